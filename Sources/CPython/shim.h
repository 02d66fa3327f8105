#ifndef CAGENT_CPYTHON_SHIM_H
#define CAGENT_CPYTHON_SHIM_H

// <sys/select.h> first: without it a clean build can fail on an fd_set member
// mismatch between this module and Dispatch (measured, see docs/design.md).
#include <sys/select.h>
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

// What Swift cannot import from Python.h: macros, singletons behind macros, the
// PyExc_* globals (rejected by Swift 6 as not concurrency-safe) and variadic calls.

static inline PyObject *cagent_None(void) { return Py_None; }
static inline PyObject *cagent_True(void) { return Py_True; }
static inline PyObject *cagent_False(void) { return Py_False; }

static inline int cagent_IsNone(PyObject *o) { return o == Py_None; }
static inline int cagent_Bool_Check(PyObject *o) { return PyBool_Check(o); }
static inline int cagent_Long_Check(PyObject *o) { return PyLong_Check(o); }
static inline int cagent_Float_Check(PyObject *o) { return PyFloat_Check(o); }
static inline int cagent_Unicode_Check(PyObject *o) { return PyUnicode_Check(o); }
static inline int cagent_Dict_Check(PyObject *o) { return PyDict_Check(o); }
static inline int cagent_List_Check(PyObject *o) { return PyList_Check(o); }
static inline int cagent_Tuple_Check(PyObject *o) { return PyTuple_Check(o); }
static inline int cagent_Bytes_Check(PyObject *o) { return PyBytes_Check(o); }

static inline PyObject *cagent_Tuple_GetItem(PyObject *t, Py_ssize_t i) { return PyTuple_GET_ITEM(t, i); }
static inline PyObject *cagent_List_GetItem(PyObject *l, Py_ssize_t i) { return PyList_GET_ITEM(l, i); }
static inline double cagent_Float_AsDouble(PyObject *o) { return PyFloat_AS_DOUBLE(o); }
static inline Py_ssize_t cagent_RefCount(PyObject *o) { return Py_REFCNT(o); }

static inline PyObject *cagent_Exc_TypeError(void) { return PyExc_TypeError; }
static inline PyObject *cagent_Exc_ValueError(void) { return PyExc_ValueError; }
static inline PyObject *cagent_Exc_RuntimeError(void) { return PyExc_RuntimeError; }
static inline PyObject *cagent_Exc_OverflowError(void) { return PyExc_OverflowError; }
static inline PyObject *cagent_Exc_KeyboardInterrupt(void) { return PyExc_KeyboardInterrupt; }
static inline PyObject *cagent_Exc_SystemExit(void) { return PyExc_SystemExit; }

static inline void cagent_Err_SetString(PyObject *type, const char *message) { PyErr_SetString(type, message); }

// Added for the Bridge target.
static inline PyObject *cagent_Exc_SystemError(void) { return PyExc_SystemError; }
static inline PyObject *cagent_Exc_MemoryError(void) { return PyExc_MemoryError; }
static inline PyObject *cagent_Exc_RecursionError(void) { return PyExc_RecursionError; }
static inline PyObject *cagent_Exc_UnicodeEncodeError(void) { return PyExc_UnicodeEncodeError; }

static inline int cagent_ExceptionInstance_Check(PyObject *o) { return PyExceptionInstance_Check(o); }
static inline int cagent_ExceptionClass_Check(PyObject *o) { return PyExceptionClass_Check(o); }
static inline int cagent_Capsule_CheckExact(PyObject *o) { return PyCapsule_CheckExact(o); }

// The name every capsule holding a Swift function context carries. A string literal
// lives for the whole process, as PyCapsule requires of its name.
static inline const char *cagent_function_capsule_name(void) { return "cagent.swift_function"; }

// Added for the supervisor's watchdog.
//
// What faulthandler's own watchdog thread calls: writes every Python thread's stack to
// `fd` without taking the GIL (it reads the thread states as they are, like a signal
// handler would). Exported by libpython but declared only in an internal header
// (Include/internal/pycore_traceback.h in 3.11). NULL, NULL: the interpreter is found
// through the GIL-state machinery, the calling thread need not know Python.
PyAPI_FUNC(const char *) _Py_DumpTracebackThreads(int fd, PyInterpreterState *interp, PyThreadState *current_tstate);
static inline const char *cagent_dump_all_threads(int fd) { return _Py_DumpTracebackThreads(fd, NULL, NULL); }

#endif
