"""``semcomm eval``: deterministic replay of rosbag2 bags through the codec, and its report.

``settings`` (what budgets a run uses), ``replay`` (one bag x one setting, frame by
frame: encoder, decoder backend, baselines, metrics), ``video`` (the side-by-side MP4),
``report`` (plots and ``index.html``), ``cli`` (the command, resumable per bag and
setting).
"""
