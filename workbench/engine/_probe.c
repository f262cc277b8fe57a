/* Stage-boundary probe in C: one monotonic timestamp per boundary crossing.
 *
 * A chain of n probed iterators shares one Clock.  Every crossing (a consumer
 * entering a probe's __next__, or the upstream returning from it) charges the
 * time since the previous crossing to whoever was running: the consumer on
 * entry, the probed stage on exit.  Self times therefore telescope: their sum,
 * plus the sink's, is exactly the wall time since the clock started.
 * workbench/engine/probe.py holds the pure-Python twin with the same semantics.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <time.h>

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;        /* number of probed iterators (source + stages) */
    int64_t start;
    int64_t last;
    int64_t *self_ns;    /* n + 1 slots: the last one is the sink */
    int64_t *items;
    int64_t *batches;
    char *done;
    Py_ssize_t failed;   /* index of the first probe that saw an exception, or -1 */
    int finished;        /* finish() was called: elapsed is frozen */
    int64_t last_beat;   /* when pipebench's own threads last got the GIL (beat()) */
    int64_t starve_ns;   /* yield the GIL when they have not for this long; 0: never */
    PyObject *counter;   /* callable(item) -> int, for items that may be batches */
    PyObject *batch_types; /* tuple of types handed to counter */
} Clock;

typedef struct {
    PyObject_HEAD
    Clock *clock;
    PyObject *it;
    Py_ssize_t index;
} Probe;

static void Clock_dealloc(Clock *self) {
    PyMem_Free(self->self_ns);
    PyMem_Free(self->items);
    PyMem_Free(self->batches);
    PyMem_Free(self->done);
    Py_XDECREF(self->counter);
    Py_XDECREF(self->batch_types);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Clock_init(Clock *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"n", "counter", "batch_types", NULL};
    Py_ssize_t n;
    PyObject *counter, *batch_types;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nOO!", kwlist, &n, &counter,
                                     &PyTuple_Type, &batch_types))
        return -1;
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "a chain needs at least one iterator");
        return -1;
    }
    self->n = n;
    self->self_ns = PyMem_Calloc(n + 1, sizeof(int64_t));
    self->items = PyMem_Calloc(n, sizeof(int64_t));
    self->batches = PyMem_Calloc(n, sizeof(int64_t));
    self->done = PyMem_Calloc(n, 1);
    if (!self->self_ns || !self->items || !self->batches || !self->done) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(counter);
    Py_XSETREF(self->counter, counter);
    Py_INCREF(batch_types);
    Py_XSETREF(self->batch_types, batch_types);
    self->failed = -1;
    self->start = self->last = now_ns();
    return 0;
}

static PyObject *Clock_restart(Clock *self, PyObject *unused) {
    self->start = self->last = now_ns();
    self->finished = 0;
    Py_RETURN_NONE;
}

/* Charge the time since the last crossing to the sink and stop the clock. */
static PyObject *Clock_finish(Clock *self, PyObject *unused) {
    int64_t t = now_ns();
    self->self_ns[self->n] += t - self->last;
    self->last = t;
    self->finished = 1;
    Py_RETURN_NONE;
}

/* pipebench's sampler and writer threads call beat() whenever they got to run. */
static PyObject *Clock_beat(Clock *self, PyObject *unused) {
    self->last_beat = now_ns();
    Py_RETURN_NONE;
}

static PyObject *Clock_set_starve(Clock *self, PyObject *arg) {
    int64_t v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    self->starve_ns = v;
    self->last_beat = now_ns();
    Py_RETURN_NONE;
}

/* Charge the time since the last crossing to position i (a stage being built). */
static PyObject *Clock_charge(Clock *self, PyObject *arg) {
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if (i == -1 && PyErr_Occurred()) return NULL;
    if (i < 0 || i > self->n) {
        PyErr_SetString(PyExc_IndexError, "chain position out of range");
        return NULL;
    }
    int64_t t = now_ns();
    self->self_ns[i] += t - self->last;
    self->last = t;
    Py_RETURN_NONE;
}

/* (elapsed_ns, self_ns list, items list, batches list, done list, failed); elapsed runs
 * on until finish(), after which it equals the sum of the self times. */
static PyObject *Clock_read(Clock *self, PyObject *unused) {
    Py_ssize_t i;
    PyObject *s = PyList_New(self->n + 1), *it = PyList_New(self->n),
             *b = PyList_New(self->n), *d = PyList_New(self->n);
    if (!s || !it || !b || !d) goto fail;
    for (i = 0; i <= self->n; i++)
        PyList_SET_ITEM(s, i, PyLong_FromLongLong(self->self_ns[i]));
    for (i = 0; i < self->n; i++) {
        PyList_SET_ITEM(it, i, PyLong_FromLongLong(self->items[i]));
        PyList_SET_ITEM(b, i, PyLong_FromLongLong(self->batches[i]));
        PyList_SET_ITEM(d, i, PyBool_FromLong(self->done[i]));
    }
    int64_t end = self->finished ? self->last : now_ns();
    return Py_BuildValue("LNNNNn", (long long)(end - self->start), s, it, b, d,
                         self->failed);
fail:
    Py_XDECREF(s); Py_XDECREF(it); Py_XDECREF(b); Py_XDECREF(d);
    return NULL;
}

static PyMethodDef Clock_methods[] = {
    {"restart", (PyCFunction)Clock_restart, METH_NOARGS, "Reset the start of the wall clock."},
    {"finish", (PyCFunction)Clock_finish, METH_NOARGS, "Charge the tail to the sink."},
    {"beat", (PyCFunction)Clock_beat, METH_NOARGS, "pipebench's threads got to run."},
    {"set_starve", (PyCFunction)Clock_set_starve, METH_O,
     "Yield the GIL at a boundary when no beat() came for this many ns (0: never)."},
    {"charge", (PyCFunction)Clock_charge, METH_O,
     "Charge the time since the last crossing to chain position i."},
    {"read", (PyCFunction)Clock_read, METH_NOARGS,
     "(elapsed_ns, self_ns[n+1], items[n], batches[n], done[n], failed_index)"},
    {NULL}
};

static PyTypeObject ClockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "workbench.engine._probe.Clock",
    .tp_basicsize = sizeof(Clock),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Shared clock and counters of one probed chain.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Clock_init,
    .tp_dealloc = (destructor)Clock_dealloc,
    .tp_methods = Clock_methods,
};

static int is_batch_type(Clock *c, PyObject *x) {
    Py_ssize_t i, k = PyTuple_GET_SIZE(c->batch_types);
    for (i = 0; i < k; i++)
        if (PyObject_TypeCheck(x, (PyTypeObject *)PyTuple_GET_ITEM(c->batch_types, i)))
            return 1;
    return 0;
}

/* Items in one yielded value: 1 for a scalar or record, the batch length for
 * a list, or (through the Python counter) for arrays, tensors and structures
 * of them. Returns -1 with an exception set only if the counter fails. */
static int64_t count_items(Clock *c, PyObject *x) {
    PyTypeObject *tp = Py_TYPE(x);
    if (tp == &PyLong_Type || tp == &PyFloat_Type || tp == &PyUnicode_Type ||
        tp == &PyBytes_Type)
        return 1;
    if ((tp == &PyList_Type || tp == &PyTuple_Type)) {
        Py_ssize_t len = Py_SIZE(x);
        if (len == 0) return 0;
        PyObject *first = tp == &PyList_Type ? PyList_GET_ITEM(x, 0) : PyTuple_GET_ITEM(x, 0);
        if (!is_batch_type(c, first)) return len;
    } else if (!PyDict_Check(x) && !PyTuple_Check(x) && !is_batch_type(c, x)) {
        return 1;
    }
    PyObject *r = PyObject_CallOneArg(c->counter, x);
    if (r == NULL) return -1;
    int64_t v = PyLong_AsLongLong(r);
    Py_DECREF(r);
    return v;
}

static void Probe_dealloc(Probe *self) {
    PyObject_GC_UnTrack(self);
    Py_XDECREF(self->clock);
    Py_XDECREF(self->it);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Probe_traverse(Probe *self, visitproc visit, void *arg) {
    Py_VISIT(self->clock);
    Py_VISIT(self->it);
    return 0;
}

static int Probe_clear(Probe *self) {
    Py_CLEAR(self->it);
    return 0;
}

static int Probe_init(Probe *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"clock", "index", "iterator", NULL};
    PyObject *clock, *it;
    Py_ssize_t index;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!nO", kwlist, &ClockType, &clock,
                                     &index, &it))
        return -1;
    if (index < 0 || index >= ((Clock *)clock)->n) {
        PyErr_SetString(PyExc_IndexError, "probe index out of range");
        return -1;
    }
    if (!PyIter_Check(it)) {
        PyErr_SetString(PyExc_TypeError, "a probe wraps an iterator");
        return -1;
    }
    Py_INCREF(clock);
    Py_XSETREF(self->clock, (Clock *)clock);
    Py_INCREF(it);
    Py_XSETREF(self->it, it);
    self->index = index;
    return 0;
}

static PyObject *Probe_next(Probe *self) {
    Clock *c = self->clock;
    PyObject *x;
    int64_t t;
    if (self->it == NULL) return NULL;
    t = now_ns();
    c->self_ns[self->index + 1] += t - c->last;
    c->last = t;
    x = Py_TYPE(self->it)->tp_iternext(self->it);
    t = now_ns();
    c->self_ns[self->index] += t - c->last;
    c->last = t;
    if (c->starve_ns && t - c->last_beat > c->starve_ns) {
        /* pipebench's threads have not had the GIL for a while: some user code (text
         * file iteration, for one) releases and retakes it so often that a waiting
         * thread never wins it. Step aside briefly; charge the pause to the sink. */
        struct timespec pause = {0, 100000};
        c->last_beat = t;
        Py_BEGIN_ALLOW_THREADS
        nanosleep(&pause, NULL);
        Py_END_ALLOW_THREADS
        t = now_ns();
        c->self_ns[c->n] += t - c->last;
        c->last = t;
    }
    if (x == NULL) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_StopIteration)) {
            if (c->failed < 0) c->failed = self->index;
        } else {
            c->done[self->index] = 1;
        }
        return NULL;
    }
    int64_t k = count_items(c, x);
    if (k < 0) { Py_DECREF(x); return NULL; }
    c->items[self->index] += k;
    c->batches[self->index] += 1;
    return x;
}

static PyObject *Probe_close(Probe *self, PyObject *unused) {
    if (self->it != NULL) {
        PyObject *close = PyObject_GetAttrString(self->it, "close");
        if (close == NULL) {
            PyErr_Clear();
        } else {
            PyObject *r = PyObject_CallNoArgs(close);
            Py_DECREF(close);
            if (r == NULL) return NULL;
            Py_DECREF(r);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *Probe_get_index(Probe *self, void *closure) {
    return PyLong_FromSsize_t(self->index);
}

static PyMethodDef Probe_methods[] = {
    {"close", (PyCFunction)Probe_close, METH_NOARGS, "Close the wrapped iterator if it can be."},
    {NULL}
};

static PyGetSetDef Probe_getset[] = {
    {"index", (getter)Probe_get_index, NULL, "position in the chain", NULL},
    {NULL}
};

static PyTypeObject ProbeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "workbench.engine._probe.Probe",
    .tp_basicsize = sizeof(Probe),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "An iterator that times and counts what passes one stage boundary.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Probe_init,
    .tp_dealloc = (destructor)Probe_dealloc,
    .tp_traverse = (traverseproc)Probe_traverse,
    .tp_clear = (inquiry)Probe_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Probe_next,
    .tp_methods = Probe_methods,
    .tp_getset = Probe_getset,
};

static struct PyModuleDef probemodule = {
    PyModuleDef_HEAD_INIT, "_probe", "C stage-boundary probe.", -1, NULL,
};

PyMODINIT_FUNC PyInit__probe(void) {
    PyObject *m;
    if (PyType_Ready(&ClockType) < 0 || PyType_Ready(&ProbeType) < 0) return NULL;
    m = PyModule_Create(&probemodule);
    if (m == NULL) return NULL;
    Py_INCREF(&ClockType);
    Py_INCREF(&ProbeType);
    if (PyModule_AddObject(m, "Clock", (PyObject *)&ClockType) < 0 ||
        PyModule_AddObject(m, "Probe", (PyObject *)&ProbeType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
