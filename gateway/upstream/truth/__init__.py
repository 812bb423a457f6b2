"""The truth score of every channel × model: does the upstream report honest usage (ratios.py) and serve
the model it claims (canary.py)? score.py turns the evidence into 0–100 and demotes channels below the
threshold; a Django app of its own (label "truth") so its tables migrate apart from the gateway's."""
