/* Stage-boundary probe in C: one clock read per boundary crossing, counters in a shared block.
 *
 * A chain of n probed iterators shares one Clock.  Every crossing (a consumer entering a
 * probe's __next__, or the upstream returning from it) charges the time since the previous
 * crossing to whoever was running: the consumer on entry, the probed stage on exit.  Self
 * times therefore telescope: their sum, plus the sink's, is exactly the wall time since the
 * clock started.
 *
 * The counters live in a block of int64 words that the Clock is given (an mmap shared with
 * the parent process), written with plain stores: the parent reads them at its snapshot rate,
 * so the pipeline's process needs no thread of pipebench's to publish them.  The layout is
 * the LAYOUT tuple below; workbench/engine/probe.py holds the pure-Python twin with the same
 * semantics and the reader.
 *
 * What only the pipeline's process can read (cache counters, contexts, torch.cuda) is read
 * by a thread of pipebench's, but when the chain says so: at a crossing, once
 * `publish_every` ticks have passed since the last publication, the clock calls
 * `on_publish` on the chain's thread, which hands the GIL to that thread for the reading
 * (workbench/engine/child.py, SectionsThread).  A thread that woke on its own clock had to
 * win the GIL from the chain: a chain iterating a text file releases and retakes it at
 * every read, and each release woke the waiting thread only for it to lose again
 * (thousands of context switches a second, ~5% of the chain's CPU).
 *
 * The clock is the TSC where the kernel itself keeps time with it (an invariant TSC: about
 * 10 ns a read here), else CLOCK_MONOTONIC through the vDSO (about 25 ns).  Ticks are turned
 * into nanoseconds by the reader, from pairs of (ticks, ns) read back to back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

/* Header words of the block. */
enum {
    W_MAGIC, W_LAYOUT, W_CAPACITY, W_N, W_TICKS, W_START_TICK, W_START_NS, W_LAST_TICK,
    W_END_TICK, W_END_NS, W_FAILED, W_RUNNING, W_STOP, W_PHASE, W_FIRST_TICK, W_STOP_SEEN,
    W_HEADER
};
#define MAGIC 0x3130544e43425050LL /* "PPBCNT01" */
#define LAYOUT_VERSION 1
#define ROLE_SLOTS 32 /* (pid, role) pairs at the end of the block */

static int use_tsc = 0;

static inline int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t tick(void) {
#if HAVE_TSC
    if (use_tsc) return (int64_t)__rdtsc();
#endif
    return mono_ns();
}

/* Word offsets of the arrays for a block of `words` int64 words. */
static Py_ssize_t capacity_of(Py_ssize_t words) {
    return (words - W_HEADER - 2 * ROLE_SLOTS - 2) / 5;
}

typedef struct {
    PyObject_HEAD
    Py_buffer view;      /* the block; view.buf is int64 words */
    int has_view;
    int64_t *w;          /* header words */
    int64_t *self_t;     /* n + 1 slots (ticks): the last one is the sink */
    int64_t *items;
    int64_t *batches;
    int64_t *done;
    int64_t *compile_ns; /* n + 1 slots: JIT compilation inside each position (ns) */
    Py_ssize_t n;
    int closing;         /* the chain is being closed: stops are no longer re-asserted */
    int64_t publish_every;   /* ticks between publications at crossings; 0: none */
    int64_t last_publish;    /* ticks, the last publication (at a crossing or published()) */
    PyObject *on_publish;    /* callable() run at a crossing when a publication is due */
    PyObject *counter;   /* callable(value) -> int, for values that are not plainly one item */
    PyObject *kind_of;   /* callable(type) -> 0 (always one item) or 1 (ask counter) */
    PyObject *make_stop; /* callable() -> the exception instance a stop raises */
    PyTypeObject *one_types[16]; /* types known to count as one item */
    int n_one;
} Clock;

typedef struct {
    PyObject_HEAD
    Clock *clock;
    PyObject *it;
    PyObject *items;     /* NULL, an int (items per value) or a callable(value) -> int */
    int64_t items_const;
    Py_ssize_t index;
} Probe;

static void Clock_dealloc(Clock *self) {
    if (self->has_view) PyBuffer_Release(&self->view);
    Py_XDECREF(self->counter);
    Py_XDECREF(self->kind_of);
    Py_XDECREF(self->make_stop);
    Py_XDECREF(self->on_publish);
    for (int i = 0; i < self->n_one; i++) Py_DECREF(self->one_types[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Clock_init(Clock *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"block", "n", "counter", "kind_of", "make_stop", NULL};
    PyObject *block, *counter, *kind_of, *make_stop;
    Py_ssize_t n;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OnOOO", kwlist, &block, &n, &counter,
                                     &kind_of, &make_stop))
        return -1;
    if (self->has_view) {
        PyErr_SetString(PyExc_RuntimeError, "a Clock is initialised once");
        return -1;
    }
    if (PyObject_GetBuffer(block, &self->view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    self->has_view = 1;
    Py_ssize_t words = self->view.len / 8;
    Py_ssize_t cap = capacity_of(words);
    if (((uintptr_t)self->view.buf) % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "the counter block must be 8-byte aligned");
        return -1;
    }
    if (n < 1 || n > cap) {
        PyErr_Format(PyExc_ValueError, "a chain of %zd iterators does not fit (1 to %zd)", n, cap);
        return -1;
    }
    int64_t *w = (int64_t *)self->view.buf;
    self->w = w;
    self->self_t = w + W_HEADER;
    self->items = self->self_t + cap + 1;
    self->batches = self->items + cap;
    self->done = self->batches + cap;
    self->compile_ns = self->done + cap;
    self->n = n;
    memset(w + W_HEADER, 0, (size_t)(5 * cap + 2) * 8);
    w[W_LAYOUT] = LAYOUT_VERSION;
    w[W_CAPACITY] = cap;
    w[W_TICKS] = use_tsc;
    w[W_FAILED] = -1;
    w[W_END_TICK] = 0;
    w[W_END_NS] = 0;
    w[W_FIRST_TICK] = 0;
    w[W_RUNNING] = n;
    Py_INCREF(counter);
    Py_XSETREF(self->counter, counter);
    Py_INCREF(kind_of);
    Py_XSETREF(self->kind_of, kind_of);
    Py_INCREF(make_stop);
    Py_XSETREF(self->make_stop, make_stop);
    int64_t t = tick();
    w[W_START_NS] = mono_ns();
    w[W_START_TICK] = w[W_LAST_TICK] = t;
    self->last_publish = t;
    w[W_N] = n;
    w[W_MAGIC] = MAGIC;
    return 0;
}

/* Charge the time since the last crossing to the sink and stop the clock. */
static PyObject *Clock_finish(Clock *self, PyObject *unused) {
    int64_t *w = self->w;
    int64_t t = tick();
    self->self_t[self->n] += t - w[W_LAST_TICK];
    w[W_LAST_TICK] = t;
    w[W_END_NS] = mono_ns();
    w[W_RUNNING] = self->n;
    w[W_END_TICK] = t;
    Py_RETURN_NONE;
}

/* set_publish(every_ticks, fn): call fn() at a crossing once every_ticks have passed since
 * the last publication; set_publish(0, None) stops it (and lets go of fn). */
static PyObject *Clock_set_publish(Clock *self, PyObject *args) {
    long long every;
    PyObject *fn;
    if (!PyArg_ParseTuple(args, "LO", &every, &fn)) return NULL;
    if (every < 0 || (every > 0 && !PyCallable_Check(fn))) {
        PyErr_SetString(PyExc_ValueError, "set_publish(ticks > 0, callable) or (0, None)");
        return NULL;
    }
    self->publish_every = 0; /* no crossing calls the old one while it is replaced */
    if (every > 0) {
        Py_INCREF(fn);
        Py_XSETREF(self->on_publish, fn);
    } else {
        Py_CLEAR(self->on_publish);
    }
    self->last_publish = tick();
    self->publish_every = every;
    Py_RETURN_NONE;
}

/* pipebench's thread published: the chain's next publication is due a period from now. */
static PyObject *Clock_published(Clock *self, PyObject *unused) {
    self->last_publish = tick();
    Py_RETURN_NONE;
}

static PyObject *Clock_set_closing(Clock *self, PyObject *arg) {
    int v = PyObject_IsTrue(arg);
    if (v < 0) return NULL;
    self->closing = v;
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
    int64_t t = tick();
    self->self_t[i] += t - self->w[W_LAST_TICK];
    self->w[W_LAST_TICK] = t;
    Py_RETURN_NONE;
}

/* Add JIT compilation time (ns) to whatever position is running now. */
static PyObject *Clock_add_compile(Clock *self, PyObject *arg) {
    int64_t v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    int64_t r = self->w[W_RUNNING];
    if (r >= 0 && r <= self->n) self->compile_ns[r] += v;
    Py_RETURN_NONE;
}

static PyMethodDef Clock_methods[] = {
    {"finish", (PyCFunction)Clock_finish, METH_NOARGS, "Charge the tail to the sink; stop."},
    {"set_publish", (PyCFunction)Clock_set_publish, METH_VARARGS,
     "set_publish(ticks, fn): call fn() at a crossing when ticks passed since the last "
     "publication; (0, None): never."},
    {"published", (PyCFunction)Clock_published, METH_NOARGS,
     "A publication was made off the chain: the next is due a period from now."},
    {"set_closing", (PyCFunction)Clock_set_closing, METH_O,
     "While True, a stop request is no longer raised at boundaries (the chain is closing)."},
    {"charge", (PyCFunction)Clock_charge, METH_O,
     "Charge the time since the last crossing to chain position i."},
    {"add_compile", (PyCFunction)Clock_add_compile, METH_O,
     "Add JIT compilation nanoseconds to the position running now."},
    {NULL}
};

static PyObject *Clock_get_n(Clock *self, void *closure) { return PyLong_FromSsize_t(self->n); }

static PyGetSetDef Clock_getset[] = {
    {"n", (getter)Clock_get_n, NULL, "probed iterators in the chain", NULL},
    {NULL}
};

static PyTypeObject ClockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "workbench.engine._probe.Clock",
    .tp_basicsize = sizeof(Clock),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Shared clock and counters of one probed chain, in a block of int64 words.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Clock_init,
    .tp_dealloc = (destructor)Clock_dealloc,
    .tp_methods = Clock_methods,
    .tp_getset = Clock_getset,
};

/* Items in one yielded value (see workbench/authoring/items.py for the model): the fast
 * paths here, everything else through the Python counter.  -1 with an exception set if the
 * counter fails. */
static int64_t count_items(Clock *c, PyObject *x) {
    PyTypeObject *tp = Py_TYPE(x);
    if (tp == &PyLong_Type || tp == &PyFloat_Type || tp == &PyUnicode_Type ||
        tp == &PyBytes_Type || tp == &PyBool_Type || x == Py_None)
        return 1;
    for (int i = 0; i < c->n_one; i++)
        if (c->one_types[i] == tp) return 1;
    if (tp == &PyList_Type || tp == &PyTuple_Type) {
        Py_ssize_t len = Py_SIZE(x);
        if (len == 0) return tp == &PyList_Type ? 0 : 1;
        PyObject *first = tp == &PyList_Type ? PyList_GET_ITEM(x, 0) : PyTuple_GET_ITEM(x, 0);
        PyTypeObject *ft = Py_TYPE(first);
        int plain = ft == &PyLong_Type || ft == &PyFloat_Type || ft == &PyUnicode_Type ||
                    ft == &PyBytes_Type || ft == &PyList_Type || ft == &PyTuple_Type ||
                    ft == &PyDict_Type;
        for (int i = 0; !plain && i < c->n_one; i++)
            if (c->one_types[i] == ft) plain = 1;
        if (plain) return tp == &PyList_Type ? len : 1;
    } else if (tp != &PyDict_Type && c->n_one < 16) {
        /* Learn once per type whether its values are always one item. */
        PyObject *k = PyObject_CallOneArg(c->kind_of, (PyObject *)tp);
        if (k == NULL) return -1;
        long kind = PyLong_AsLong(k);
        Py_DECREF(k);
        if (kind == -1 && PyErr_Occurred()) return -1;
        if (kind == 0) {
            Py_INCREF(tp);
            c->one_types[c->n_one++] = tp;
            return 1;
        }
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
    Py_XDECREF(self->items);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Probe_traverse(Probe *self, visitproc visit, void *arg) {
    Py_VISIT(self->clock);
    Py_VISIT(self->it);
    Py_VISIT(self->items);
    return 0;
}

static int Probe_clear(Probe *self) {
    Py_CLEAR(self->it);
    Py_CLEAR(self->items);
    return 0;
}

static int Probe_init(Probe *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"clock", "index", "iterator", "items", NULL};
    PyObject *clock, *it, *items = Py_None;
    Py_ssize_t index;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!nO|O", kwlist, &ClockType, &clock,
                                     &index, &it, &items))
        return -1;
    if (index < 0 || index >= ((Clock *)clock)->n) {
        PyErr_SetString(PyExc_IndexError, "probe index out of range");
        return -1;
    }
    if (!PyIter_Check(it)) {
        PyErr_SetString(PyExc_TypeError, "a probe wraps an iterator");
        return -1;
    }
    self->items_const = -1;
    if (items != Py_None) {
        if (PyLong_Check(items)) {
            self->items_const = PyLong_AsLongLong(items);
            if (self->items_const < 0) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "items per value must be >= 0");
                return -1;
            }
        } else if (!PyCallable_Check(items)) {
            PyErr_SetString(PyExc_TypeError, "items is an int or a callable(value) -> int");
            return -1;
        } else {
            Py_INCREF(items);
            Py_XSETREF(self->items, items);
        }
    }
    Py_INCREF(clock);
    Py_XSETREF(self->clock, (Clock *)clock);
    Py_INCREF(it);
    Py_XSETREF(self->it, it);
    self->index = index;
    return 0;
}

/* Raise the run's stop exception (the parent asked for a stop; see W_STOP). */
static PyObject *raise_stop(Clock *c) {
    PyObject *e = PyObject_CallNoArgs(c->make_stop);
    if (e != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
        Py_DECREF(e);
    }
    return NULL;
}

static PyObject *Probe_next(Probe *self) {
    Clock *c = self->clock;
    int64_t *w;
    PyObject *x;
    int64_t t;
    if (self->it == NULL) return NULL;
    w = c->w;
    t = tick();
    c->self_t[self->index + 1] += t - w[W_LAST_TICK];
    w[W_LAST_TICK] = t;
    w[W_RUNNING] = self->index;
    if (w[W_STOP] && !c->closing) {
        /* A stop was asked for: re-asserted at every boundary, so a stage that swallows
         * it (except BaseException: pass) cannot keep the chain going. */
        w[W_RUNNING] = self->index + 1;
        return raise_stop(c);
    }
    x = Py_TYPE(self->it)->tp_iternext(self->it);
    t = tick();
    c->self_t[self->index] += t - w[W_LAST_TICK];
    w[W_LAST_TICK] = t;
    w[W_RUNNING] = self->index + 1;
    if (x == NULL) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_StopIteration)) {
            if (w[W_FAILED] < 0 && !(w[W_STOP] && !c->closing)) w[W_FAILED] = self->index;
        } else {
            c->done[self->index] = 1;
        }
        return NULL;
    }
    if (c->publish_every && t - c->last_publish > c->publish_every) {
        /* pipebench's reading of what only this process can see, handed over from the
         * chain's thread (see the top of this file); charged to the sink, as pipebench's
         * own time. */
        PyObject *fn = c->on_publish;
        c->last_publish = t;
        w[W_RUNNING] = c->n;
        Py_INCREF(fn);
        PyObject *r = PyObject_CallNoArgs(fn);
        Py_DECREF(fn);
        t = tick();
        c->self_t[c->n] += t - w[W_LAST_TICK];
        w[W_LAST_TICK] = t;
        w[W_RUNNING] = self->index + 1;
        if (r == NULL) { /* a stop's signal handler raised while it ran */
            Py_DECREF(x);
            return NULL;
        }
        Py_DECREF(r);
    }
    if (w[W_STOP] && !c->closing) {
        Py_DECREF(x);
        return raise_stop(c);
    }
    int64_t k;
    if (self->items_const >= 0) {
        k = self->items_const;
    } else if (self->items != NULL) {
        PyObject *r = PyObject_CallOneArg(self->items, x);
        if (r == NULL) { Py_DECREF(x); return NULL; }
        k = PyLong_AsLongLong(r);
        Py_DECREF(r);
        if (k == -1 && PyErr_Occurred()) { Py_DECREF(x); return NULL; }
    } else {
        k = count_items(c, x);
        if (k < 0) { Py_DECREF(x); return NULL; }
    }
    c->items[self->index] += k;
    if (c->batches[self->index]++ == 0 && self->index == c->n - 1)
        w[W_FIRST_TICK] = t; /* the first batch out of the chain: time to first batch */
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

/* (ticks, monotonic ns) read back to back: the reader's calibration pairs. */
static PyObject *probe_now(PyObject *mod, PyObject *unused) {
    int64_t t = tick();
    int64_t ns = mono_ns();
    return Py_BuildValue("LL", (long long)t, (long long)ns);
}

static PyMethodDef module_methods[] = {
    {"now", (PyCFunction)probe_now, METH_NOARGS, "(ticks, monotonic ns), read back to back."},
    {NULL}
};

static struct PyModuleDef probemodule = {
    PyModuleDef_HEAD_INIT, "_probe", "C stage-boundary probe.", -1, module_methods,
};

/* The TSC only where the kernel itself keeps time with it (it checked that it is invariant
 * and in step across CPUs), and unless PIPEBENCH_CLOCK=ns asks for the plain clock. */
static int choose_tsc(void) {
#if HAVE_TSC
    const char *env = getenv("PIPEBENCH_CLOCK");
    if (env != NULL && strcmp(env, "ns") == 0) return 0;
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f == NULL) return 0;
    char buf[32] = {0};
    size_t got = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return got >= 3 && strncmp(buf, "tsc", 3) == 0 && (got == 3 || buf[3] == '\n');
#else
    return 0;
#endif
}

PyMODINIT_FUNC PyInit__probe(void) {
    PyObject *m;
    if (PyType_Ready(&ClockType) < 0 || PyType_Ready(&ProbeType) < 0) return NULL;
    m = PyModule_Create(&probemodule);
    if (m == NULL) return NULL;
    use_tsc = choose_tsc();
    Py_INCREF(&ClockType);
    Py_INCREF(&ProbeType);
    if (PyModule_AddObject(m, "Clock", (PyObject *)&ClockType) < 0 ||
        PyModule_AddObject(m, "Probe", (PyObject *)&ProbeType) < 0 ||
        PyModule_AddStringConstant(m, "TICKS", use_tsc ? "tsc" : "ns") < 0 ||
        PyModule_AddObject(m, "LAYOUT", Py_BuildValue(
            "{s:L,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
            "magic_value", (long long)MAGIC, "version", LAYOUT_VERSION,
            "role_slots", ROLE_SLOTS, "header", W_HEADER,
            "magic", W_MAGIC, "layout", W_LAYOUT, "capacity", W_CAPACITY, "n", W_N,
            "ticks", W_TICKS, "start_tick", W_START_TICK, "start_ns", W_START_NS,
            "last_tick", W_LAST_TICK, "end_tick", W_END_TICK, "end_ns", W_END_NS,
            "failed", W_FAILED, "running", W_RUNNING, "stop", W_STOP, "phase", W_PHASE,
            "first_tick", W_FIRST_TICK, "stop_seen", W_STOP_SEEN)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
