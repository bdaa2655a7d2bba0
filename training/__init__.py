"""Training and evaluation on RHD (and the synthetic engine, ``training.synth``).

    python -m training.train {handsegnet,posenet,lifting} --data RHD_DIR --out RUN_DIR   # handcam-train
    python -m training.export --out W.pt RUN_DIR/weights.pt ...
    python -m training.evaluate {gt-crop,full-2d,lift-3d,full-3d} --data RHD_DIR --weights W.pt --out DIR
"""
