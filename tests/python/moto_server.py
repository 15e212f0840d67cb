#!/usr/bin/env python3
"""moto in server mode, plus the one Glue behaviour moto lacks: a job run that FAILS.

moto 5 moves every Glue job run STARTING -> RUNNING -> SUCCEEDED. Real Glue runs also end
FAILED with an ErrorMessage, and flowctl's retry-then-fail path must be tested end to end. So
a job run started with the argument `--flowctl-test-fail MESSAGE` moves STARTING -> RUNNING ->
FAILED and reports MESSAGE as its ErrorMessage, under moto's own state manager (so
`/moto-api/state-manager/set-transition` for `glue::job_run` still controls its pace).
Everything else is moto unchanged.

Usage: moto_server.py [moto.server arguments], e.g. `-H 127.0.0.1 -p 5000`.
"""

import sys

from moto.glue import models as glue_models
from moto.server import main

FAIL_ARGUMENT = "--flowctl-test-fail"

_init = glue_models.FakeJobRun.__init__
_as_dict = glue_models.FakeJobRun.as_dict


def _init_with_failure(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.flowctl_error = (self.arguments or {}).get(FAIL_ARGUMENT)
    if self.flowctl_error is not None:
        self._transitions = [("STARTING", "RUNNING"), ("RUNNING", "FAILED")]


def _as_dict_with_failure(self):
    out = _as_dict(self)
    if getattr(self, "flowctl_error", None) is not None and out.get("JobRunState") == "FAILED":
        out["ErrorMessage"] = self.flowctl_error
    return out


glue_models.FakeJobRun.__init__ = _init_with_failure
glue_models.FakeJobRun.as_dict = _as_dict_with_failure

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
