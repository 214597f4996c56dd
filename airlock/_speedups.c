/* The compiled half of a scope's `with`: what every `with airlock.scope():` pays.
 *
 * `Core` is the base of `airlock.Scope` when this module is built (airlock/_core.py says which
 * is used). It holds the fields a scope reads on every enter and exit as C members, and does
 * in C what the Python `Scope.enter()` and `Scope.__exit__()` do on their common paths: become
 * the current scope, stop being it, and finish a scope that buffered nothing. Everything else
 * (linking under an enclosing scope, a flush, an error, a state error) calls the Python
 * methods of the same names, so the rules live in one place: airlock/_scope.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *state;   /* _state: one of the state strings given to setup() */
    PyObject *token;   /* _token: the ContextVar token of the enter */
    PyObject *prior;   /* _prior: the context value this scope replaced */
    PyObject *direct;  /* _direct: enqueue's direct path (see airlock/_buffer.py) */
    PyObject *buffer;  /* _buffer: the list of intents buffered, or None */
    PyObject *plain;   /* _plain: True or False, see airlock/_buffer.py */
} Core;

/* Given once by airlock/_scope.py (setup()). */
static PyObject *current, *NEW, *ACTIVE, *FLUSHED, *FRESH, *empty_tuple;
static PyObject *s_enter, *s_exit, *s_link, *s_after_exit, *s_plain, *s_policy;

/* A field read from C: None where Python code deleted it (``del scope._token``). */
#define OR_NONE(field) ((field) != NULL ? (field) : Py_None)

static void
set_field(PyObject **field, PyObject *value)
{
    PyObject *old = *field;
    Py_XINCREF(value);
    *field = value;
    Py_XDECREF(old);
}

static PyObject *
Core_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    /* Arguments are __init__'s: ignored, as object.__new__ does, unless a subclass's own
     * __new__ passes them on (object.__new__ refuses that too). */
    if (type->tp_new != Core_new
        && ((args != NULL && PyTuple_GET_SIZE(args)) || (kwds != NULL && PyDict_GET_SIZE(kwds)))) {
        PyErr_SetString(PyExc_TypeError,
                        "object.__new__() takes exactly one argument (the type to instantiate)");
        return NULL;
    }
    if (NEW == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "airlock._speedups.setup() was not called");
        return NULL;
    }
    /* object.__new__ allocates and sets up the instance dict of a Python subclass (its inline
     * values: CPython 3.11 specialises attribute access on them only when set up there). */
    Core *self = (Core *)PyBaseObject_Type.tp_new(type, empty_tuple, NULL);
    if (self != NULL) { /* never NULL: Python reads them as T_OBJECT_EX slots (specialised) */
        self->state = Py_NewRef(NEW);
        self->token = Py_NewRef(Py_None);
        self->prior = Py_NewRef(Py_None);
        self->direct = Py_NewRef(Py_None);
        self->buffer = Py_NewRef(Py_None);
        self->plain = Py_NewRef(Py_False);
    }
    return (PyObject *)self;
}

static int
Core_traverse(Core *self, visitproc visit, void *arg)
{
    Py_VISIT(self->state);
    Py_VISIT(self->token);
    Py_VISIT(self->prior);
    Py_VISIT(self->direct);
    Py_VISIT(self->buffer);
    Py_VISIT(self->plain);
    return 0;
}

static int
Core_clear(Core *self)
{
    Py_CLEAR(self->state);
    Py_CLEAR(self->token);
    Py_CLEAR(self->prior);
    Py_CLEAR(self->direct);
    Py_CLEAR(self->buffer);
    Py_CLEAR(self->plain);
    return 0;
}

static void
Core_dealloc(Core *self)
{
    PyObject_GC_UnTrack(self);
    Core_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Scope.enter() for a scope airlock.scope() made with no arguments (FRESH); else the method. */
static PyObject *
Core_enter(Core *self, PyObject *unused)
{
    if (self->direct != FRESH) {
        return PyObject_CallMethodNoArgs((PyObject *)self, s_enter);
    }
    PyObject *prior;
    if (PyContextVar_Get(current, Py_None, &prior) < 0) {
        return NULL;
    }
    if (prior == Py_None) { /* nothing to link: the first intent comes direct */
        set_field(&self->plain, Py_True);
        set_field(&self->direct, (PyObject *)self);
    }
    else {
        set_field(&self->direct, Py_None);
        PyObject *linked = PyObject_CallMethodOneArg((PyObject *)self, s_link, prior);
        if (linked == NULL) {
            Py_DECREF(prior);
            return NULL;
        }
        Py_DECREF(linked);
    }
    Py_DECREF(prior);
    set_field(&self->state, ACTIVE);
    PyObject *token = PyContextVar_Set(current, (PyObject *)self);
    if (token == NULL) {
        return NULL;
    }
    Py_XSETREF(self->token, token);
    Py_INCREF(self);
    return (PyObject *)self;
}

/* Scope.__exit__: stop being current, then finish; only a scope that buffered nothing and
 * has nothing to judge finishes here, the rest in Scope._after_exit(error). */
static PyObject *
Core_exit(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "__exit__ expected 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (self->state != ACTIVE) {
        return PyObject_CallMethodNoArgs((PyObject *)self, s_exit); /* raises the state error */
    }
    if (PyContextVar_Reset(current, OR_NONE(self->token)) < 0) {
        /* Exited from another context than the one it was entered in (another task or
         * thread): step out only where we are current; that context's own scope stays. */
        if (!PyErr_ExceptionMatches(PyExc_ValueError)
            && !PyErr_ExceptionMatches(PyExc_RuntimeError)) {
            return NULL;
        }
        PyErr_Clear();
        PyObject *value;
        if (PyContextVar_Get(current, Py_None, &value) < 0) {
            return NULL;
        }
        Py_DECREF(value); /* only its identity is compared */
        if (value == (PyObject *)self) {
            PyObject *token = PyContextVar_Set(current, OR_NONE(self->prior));
            if (token == NULL) {
                return NULL;
            }
            Py_DECREF(token);
        }
    }
    set_field(&self->direct, Py_None);
    PyObject *error = args[1];
    if (error == Py_None && self->plain == Py_True && self->buffer == Py_None) {
        set_field(&self->state, FLUSHED);
        Py_RETURN_NONE;
    }
    return PyObject_CallMethodOneArg((PyObject *)self, s_after_exit, error);
}

static PyMethodDef Core_methods[] = {
    {"__enter__", (PyCFunction)Core_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\n"
     "Make this the current scope of this context (``enter()``); returns the scope."},
    {"__exit__", (PyCFunction)(void (*)(void))Core_exit, METH_FASTCALL,
     "__exit__($self, exc_type, exc, tb, /)\n--\n\n"
     "Stop being current, then flush on success or settle the error (see ``Scope``)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Core_members[] = {
    {"_state", T_OBJECT_EX, offsetof(Core, state), 0, NULL},
    {"_token", T_OBJECT_EX, offsetof(Core, token), 0, NULL},
    {"_prior", T_OBJECT_EX, offsetof(Core, prior), 0, NULL},
    {"_direct", T_OBJECT_EX, offsetof(Core, direct), 0, NULL},
    {"_buffer", T_OBJECT_EX, offsetof(Core, buffer), 0, NULL},
    {"_plain", T_OBJECT_EX, offsetof(Core, plain), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "airlock._speedups.Core",
    .tp_doc = PyDoc_STR("The fields and the `with` of a scope, compiled (see airlock/_core.py)."),
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = Core_new,
    .tp_traverse = (traverseproc)Core_traverse,
    .tp_clear = (inquiry)Core_clear,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
    .tp_members = Core_members,
};

static PyObject *
setup(PyObject *module, PyObject *args)
{
    PyObject *var, *new, *active, *flushed, *fresh;
    if (!PyArg_ParseTuple(args, "O!OOOO:setup", &PyContextVar_Type, &var, &new, &active,
                          &flushed, &fresh)) {
        return NULL;
    }
    set_field(&current, var);
    set_field(&NEW, new);
    set_field(&ACTIVE, active);
    set_field(&FLUSHED, flushed);
    set_field(&FRESH, fresh);
    Py_RETURN_NONE;
}

/* airlock.scope: a call with no arguments, when an earlier call worked out the configured
 * defaults (config["plain"], see airlock/_api.py), makes the scope here; any other call is
 * the Python function's. */
typedef struct {
    PyObject_HEAD
    PyObject *func;   /* the Python scope() */
    PyObject *config; /* airlock's live configuration dict */
    PyObject *dict;   /* __wrapped__, __doc__, __name__ ... (functools.update_wrapper) */
    PyObject *weakrefs;
    vectorcallfunc vectorcall;
} Maker;

static PyObject *
Maker_call(Maker *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) == 0 && kwnames == NULL) {
        PyObject *plain = PyDict_GetItemWithError(self->config, s_plain); /* borrowed */
        if (plain == NULL && PyErr_Occurred()) {
            return NULL;
        }
        if (plain != NULL && PyTuple_CheckExact(plain) && PyTuple_GET_SIZE(plain) == 3
            && PyType_Check(PyTuple_GET_ITEM(plain, 0))
            && PyType_IsSubtype((PyTypeObject *)PyTuple_GET_ITEM(plain, 0), &CoreType)) {
            /* Held: allocating may run a finalizer that calls configure() and replaces it. */
            Py_INCREF(plain);
            PyObject *policy = PyTuple_GET_ITEM(plain, 1);
            Core *made = (Core *)Core_new((PyTypeObject *)PyTuple_GET_ITEM(plain, 0), NULL, NULL);
            if (made != NULL && policy != Py_None) {
                if (PyObject_SetAttr((PyObject *)made, s_policy, policy) < 0) {
                    Py_CLEAR(made);
                }
            }
            else if (made != NULL && PyTuple_GET_ITEM(plain, 2) == Py_True) {
                set_field(&made->direct, FRESH); /* the defaults: enter() needs no checks */
            }
            Py_DECREF(plain);
            return (PyObject *)made;
        }
    }
    return PyObject_Vectorcall(self->func, args, nargsf, kwnames);
}

static PyObject *
Maker_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *func, *config;
    if (!PyArg_ParseTuple(args, "OO!:Maker", &func, &PyDict_Type, &config)) {
        return NULL;
    }
    Maker *self = (Maker *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->func = Py_NewRef(func);
        self->config = Py_NewRef(config);
        self->vectorcall = (vectorcallfunc)Maker_call;
    }
    return (PyObject *)self;
}

static int
Maker_traverse(Maker *self, visitproc visit, void *arg)
{
    Py_VISIT(self->func);
    Py_VISIT(self->config);
    Py_VISIT(self->dict);
    return 0;
}

static int
Maker_clear(Maker *self)
{
    Py_CLEAR(self->func);
    Py_CLEAR(self->config);
    Py_CLEAR(self->dict);
    return 0;
}

static void
Maker_dealloc(Maker *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    Maker_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* As a class attribute it binds like the function it stands for. */
static PyObject *
Maker_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        return Py_NewRef(self);
    }
    return PyMethod_New(self, obj);
}

/* Pickled and copied by name, as the function is: airlock._api.scope. */
static PyObject *
Maker_reduce(PyObject *self, PyObject *unused)
{
    return PyObject_GetAttrString(self, "__name__");
}

static PyMethodDef Maker_methods[] = {
    {"__reduce__", Maker_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Maker_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject MakerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "airlock._speedups.Maker",
    .tp_doc = PyDoc_STR("Maker(scope, config): airlock.scope, its no-argument call compiled."),
    .tp_basicsize = sizeof(Maker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = Maker_new,
    .tp_traverse = (traverseproc)Maker_traverse,
    .tp_clear = (inquiry)Maker_clear,
    .tp_dealloc = (destructor)Maker_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Maker, vectorcall),
    .tp_dictoffset = offsetof(Maker, dict),
    .tp_weaklistoffset = offsetof(Maker, weakrefs),
    .tp_descr_get = Maker_get,
    .tp_methods = Maker_methods,
    .tp_getset = Maker_getset,
};

static PyMethodDef module_methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(current, new, active, flushed, fresh): the context variable, the states a Core "
     "sets, and the FRESH marker (called once by airlock._scope)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "airlock._speedups",
    "The compiled fast path of a scope's `with` (see airlock/_core.py).", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    s_enter = PyUnicode_InternFromString("enter");
    s_exit = PyUnicode_InternFromString("exit");
    s_link = PyUnicode_InternFromString("_link");
    s_after_exit = PyUnicode_InternFromString("_after_exit");
    s_plain = PyUnicode_InternFromString("plain");
    s_policy = PyUnicode_InternFromString("_policy");
    empty_tuple = PyTuple_New(0);
    if (s_enter == NULL || s_exit == NULL || s_link == NULL || s_after_exit == NULL
        || s_plain == NULL || s_policy == NULL || empty_tuple == NULL || PyType_Ready(&CoreType) < 0
        || PyType_Ready(&MakerType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&MakerType);
    if (PyModule_AddObject(m, "Maker", (PyObject *)&MakerType) < 0) {
        Py_DECREF(&MakerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
