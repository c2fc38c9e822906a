"""The Ray launch: Tuner, trainables, progress, tracking. With sweeps/study/ (the Optuna search
Tune drives, study_run's Tuner) the only modules that import Ray; sweeps/plan/ and store/ never do."""
