"""Objectives for the worker-process tests, in a module that imports nothing heavy, so the
spawned workers that unpickle them start quickly."""

import os
import signal
import time


def faulty(params):
    mode = params["mode"]
    if mode == "raise":
        raise ValueError("bad config")
    if mode == "nan":
        return float("nan")
    if mode == "hang":
        time.sleep(60)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return params["x"]


def slow(params):
    time.sleep(30)
    return params["x"]


def quick(params):
    time.sleep(0.05)
    return params["x"]
