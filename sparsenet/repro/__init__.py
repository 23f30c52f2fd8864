"""The paper's experiments, built on the library: what ``run_all.py`` runs.

    specs         TrainSpec / AttackSpec: an experiment as data, hashed for the cache
    settings      the paper's numbers and every section's grids and budgets (``Settings``)
    plan          what each section trains and attacks; Table 2's sparse network chosen
    runner        trains and attacks a spec through the cache, on all cores
    cache         cache entries, locks, corrupt entries moved aside
    theory_study  the theorems measured on the trained networks
    adaptive      worst cases and sanity checks from the attack results
    report        summary.json and REPORT.md
    plots         the figures
    progress      progress lines with an ETA
    environment   the software and machine a run used

The library (``sparsenet.*`` outside this folder) never imports from here.
"""
