// cagent-python: CPython's own `python` main, linked against the same libpython as
// cagent-sidecar and nothing else (no Swift runtime in the process). `make build` and
// `make bench` put it beside cagent-sidecar (with the Swift toolchain's clang, not SwiftPM).
//
// The bench's control (`run --mode subprocess --child-python libpython`): the subprocess
// backend on the embedded backend's interpreter build. Debian's python3.11 executable
// is a separate, faster build of CPython than its libpython3.11.so; comparing embedded
// with this child measures embedding itself.
//
// The runtime is CAGENT_PYTHON_HOME: a virtual environment (pyvenv.cfg) or a prefix.
#include <Python.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static PyStatus configure(PyConfig *config, const char *root, int argc, char **argv) {
    char path[PATH_MAX];
    PyStatus status;
    snprintf(path, sizeof path, "%s/pyvenv.cfg", root);
    if (access(path, R_OK) == 0) {
        // A venv's bin/python as program name makes sys.prefix the venv, as running it would.
        snprintf(path, sizeof path, "%s/bin/python", root);
    } else {
        status = PyConfig_SetBytesString(config, &config->home, root);
        if (PyStatus_Exception(status)) return status;
        snprintf(path, sizeof path, "%s/bin/python%d.%d", root, PY_MAJOR_VERSION, PY_MINOR_VERSION);
    }
    status = PyConfig_SetBytesString(config, &config->program_name, path);
    if (PyStatus_Exception(status)) return status;
    return PyConfig_SetBytesArgv(config, argc, argv);
}

int main(int argc, char **argv) {
    const char *root = getenv("CAGENT_PYTHON_HOME");
    if (root == NULL || root[0] == '\0') {
        fprintf(stderr, "cagent-python: CAGENT_PYTHON_HOME must name a virtual environment or a Python prefix\n");
        return 2;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);  // exactly what python3.11's own main starts from
    PyStatus status = configure(&config, root, argc, argv);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        if (PyStatus_IsExit(status)) return status.exitcode;
        Py_ExitStatusException(status);
    }
    return Py_RunMain();
}
