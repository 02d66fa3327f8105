"""A service that never finishes importing: for the start timeout test."""

import time

time.sleep(3600)
