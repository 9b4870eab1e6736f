/* Reading many small files into the rows of one buffer, with the GIL released.
 *
 * `read_rows(paths, header, out)` reads file `paths[j]` into row `j` of the
 * writable, C-contiguous buffer `out` (every row `len(out) / len(paths)` bytes),
 * after a prefix of exactly `len(header)` bytes that must equal `header`: one
 * `open`, one `preadv` and one `close` per file, and no Python in between, so
 * several threads read at once on several cores.
 *
 * `missing(paths)` lists `[(position, errno)]` for the paths that `stat` fails
 * on, as `os.path.exists` would say False, with the GIL released.
 *
 * `read_files(paths)` reads each file whole, with the GIL released: a list of
 * `bytes`, or of the `errno` of a file that could not be read.
 *
 * `read_rows` decides nothing about errors. It returns `[(position, errno)]` for the
 * files it could not read as expected: `errno` is the error of `open` or
 * `preadv`, or 0 when the file was read but its prefix differs from `header`
 * or it is shorter than a row. The caller (kdataset.loading.loaders.NpyLoader) reads
 * those again its own way, and says what is wrong with them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* Encodes each path of a sequence as `open()` would; NULL with an exception set on failure. */
static PyObject **
encode_paths(PyObject *paths, Py_ssize_t count, const char **names)
{
    PyObject **encoded = PyMem_Calloc((size_t)(count ? count : 1), sizeof(PyObject *));
    Py_ssize_t j;

    if (encoded == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (j = 0; j < count; j++) {
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(paths, j), &encoded[j])) {
            while (j-- > 0) {
                Py_DECREF(encoded[j]);
            }
            PyMem_Free(encoded);
            return NULL;
        }
        names[j] = PyBytes_AS_STRING(encoded[j]);
    }
    return encoded;
}

static void
release_paths(PyObject **encoded, Py_ssize_t count)
{
    Py_ssize_t j;

    for (j = 0; j < count; j++) {
        Py_DECREF(encoded[j]);
    }
    PyMem_Free(encoded);
}

/* `[(position, code)]` for the nonzero codes; a negative code is listed as 0. */
static PyObject *
list_failures(const int *codes, Py_ssize_t count)
{
    PyObject *result = PyList_New(0);
    Py_ssize_t j;

    for (j = 0; result != NULL && j < count; j++) {
        if (codes[j] != 0) {
            PyObject *item = Py_BuildValue("(ni)", j, codes[j] < 0 ? 0 : codes[j]);
            if (item == NULL || PyList_Append(result, item) < 0) {
                Py_CLEAR(result); /* the loop ends here */
            }
            Py_XDECREF(item);
        }
    }
    return result;
}

static PyObject *
read_rows(PyObject *module, PyObject *args)
{
    PyObject *paths_arg, *paths = NULL, **encoded = NULL, *result = NULL;
    Py_buffer header = {0}, out = {0};
    const char **names = NULL;
    int *errors = NULL;
    Py_ssize_t count = 0, row_bytes, j;

    (void)module;

    if (!PyArg_ParseTuple(args, "Oy*w*:read_rows", &paths_arg, &header, &out)) {
        return NULL;
    }
    if (!PyBuffer_IsContiguous(&out, 'C')) {
        PyErr_SetString(PyExc_ValueError, "read_rows: `out` must be C-contiguous");
        goto done;
    }
    paths = PySequence_Fast(paths_arg, "read_rows: `paths` must be a sequence");
    if (paths == NULL) {
        goto done;
    }
    count = PySequence_Fast_GET_SIZE(paths);
    if (count == 0) {
        result = PyList_New(0);
        goto done;
    }
    if (out.len % count != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "read_rows: `out` does not split into one equal row per path");
        goto done;
    }
    row_bytes = out.len / count;
    names = PyMem_Calloc((size_t)count, sizeof(char *));
    errors = PyMem_Calloc((size_t)count, sizeof(int));
    if (names == NULL || errors == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    encoded = encode_paths(paths, count, names); /* str, bytes or os.PathLike */
    if (encoded == NULL) {
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS
    char *head = malloc(header.len > 0 ? (size_t)header.len : 1);
    if (head == NULL) {
        for (j = 0; j < count; j++) {
            errors[j] = ENOMEM;
        }
    }
    for (j = 0; head != NULL && j < count; j++) {
        struct iovec pieces[2] = {
            {head, (size_t)header.len},
            {(char *)out.buf + j * row_bytes, (size_t)row_bytes},
        };
        int fd;
        do {
            fd = open(names[j], O_RDONLY | O_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            errors[j] = errno ? errno : EIO;
            continue;
        }
        ssize_t got;
        do {
            got = preadv(fd, pieces, 2, 0);
        } while (got < 0 && errno == EINTR);
        int error = errno;
        close(fd);
        if (got < 0) {
            errors[j] = error ? error : EIO;
        }
        else if (got != header.len + row_bytes || memcmp(head, header.buf, header.len) != 0) {
            errors[j] = -1; /* read, but not as expected */
        }
    }
    free(head);
    Py_END_ALLOW_THREADS

    result = list_failures(errors, count);

done:
    if (encoded != NULL) {
        release_paths(encoded, count);
    }
    PyMem_Free(names);
    PyMem_Free(errors);
    Py_XDECREF(paths);
    if (header.obj != NULL) {
        PyBuffer_Release(&header);
    }
    if (out.obj != NULL) {
        PyBuffer_Release(&out);
    }
    return result;
}

static PyObject *
missing(PyObject *module, PyObject *paths_arg)
{
    PyObject *paths, **encoded, *result = NULL;
    const char **names;
    int *errors;
    Py_ssize_t count, j;

    (void)module;
    paths = PySequence_Fast(paths_arg, "missing: `paths` must be a sequence");
    if (paths == NULL) {
        return NULL;
    }
    count = PySequence_Fast_GET_SIZE(paths);
    names = PyMem_Calloc((size_t)(count ? count : 1), sizeof(char *));
    errors = PyMem_Calloc((size_t)(count ? count : 1), sizeof(int));
    if (names == NULL || errors == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    encoded = encode_paths(paths, count, names);
    if (encoded == NULL) {
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    struct stat info;
    for (j = 0; j < count; j++) {
        if (stat(names[j], &info) != 0) {
            errors[j] = errno ? errno : ENOENT;
        }
    }
    Py_END_ALLOW_THREADS
    release_paths(encoded, count);
    result = list_failures(errors, count);

done:
    PyMem_Free(names);
    PyMem_Free(errors);
    Py_DECREF(paths);
    return result;
}

/* Reads a whole file into a malloc'ed buffer; 0, or an errno. Called without the GIL. */
static int
read_whole(const char *name, char **data, Py_ssize_t *size)
{
    struct stat info;
    size_t capacity, used = 0;
    int fd, error = 0;

    *data = NULL;
    *size = 0;
    do {
        fd = open(name, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return errno ? errno : EIO;
    }
    if (fstat(fd, &info) != 0) {
        error = errno ? errno : EIO;
        close(fd);
        return error;
    }
    if (S_ISDIR(info.st_mode)) {
        close(fd);
        return EISDIR;
    }
    capacity = info.st_size > 0 ? (size_t)info.st_size + 1 : 4096; /* +1: EOF in one read */
    char *buffer = malloc(capacity);
    while (buffer != NULL) {
        if (used == capacity) {
            char *larger = realloc(buffer, capacity * 2);
            if (larger == NULL) {
                break;
            }
            buffer = larger;
            capacity *= 2;
        }
        ssize_t got = read(fd, buffer + used, capacity - used);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            error = errno ? errno : EIO;
            break;
        }
        if (got == 0) {
            close(fd);
            *data = buffer;
            *size = (Py_ssize_t)used;
            return 0;
        }
        used += (size_t)got;
    }
    close(fd);
    free(buffer);
    return error ? error : ENOMEM;
}

static PyObject *
read_files(PyObject *module, PyObject *paths_arg)
{
    PyObject *paths, **encoded, *result = NULL;
    const char **names;
    char **data;
    Py_ssize_t *sizes, count, j;
    int *errors;

    (void)module;
    paths = PySequence_Fast(paths_arg, "read_files: `paths` must be a sequence");
    if (paths == NULL) {
        return NULL;
    }
    count = PySequence_Fast_GET_SIZE(paths);
    names = PyMem_Calloc((size_t)(count ? count : 1), sizeof(char *));
    data = PyMem_Calloc((size_t)(count ? count : 1), sizeof(char *));
    sizes = PyMem_Calloc((size_t)(count ? count : 1), sizeof(Py_ssize_t));
    errors = PyMem_Calloc((size_t)(count ? count : 1), sizeof(int));
    if (names == NULL || data == NULL || sizes == NULL || errors == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    encoded = encode_paths(paths, count, names);
    if (encoded == NULL) {
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (j = 0; j < count; j++) {
        errors[j] = read_whole(names[j], &data[j], &sizes[j]);
    }
    Py_END_ALLOW_THREADS
    release_paths(encoded, count);
    result = PyList_New(count);
    for (j = 0; result != NULL && j < count; j++) {
        PyObject *item = errors[j] ? PyLong_FromLong(errors[j])
                                   : PyBytes_FromStringAndSize(data[j], sizes[j]);
        if (item == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, j, item);
    }
    for (j = 0; j < count; j++) {
        free(data[j]);
    }

done:
    PyMem_Free(names);
    PyMem_Free(data);
    PyMem_Free(sizes);
    PyMem_Free(errors);
    Py_DECREF(paths);
    return result;
}

static PyMethodDef methods[] = {
    {"read_files", read_files, METH_O,
     "read_files(paths) -> [bytes or errno]\n\n"
     "Each file's whole content, read with the GIL released, or the errno of\n"
     "the failure (as an int)."},
    {"read_rows", read_rows, METH_VARARGS,
     "read_rows(paths, header, out) -> [(position, errno)]\n\n"
     "Reads each file into its row of `out` after a prefix equal to `header`,\n"
     "with the GIL released. Lists the files not read as expected (errno 0:\n"
     "read, but the prefix differs or the file is short)."},
    {"missing", missing, METH_O,
     "missing(paths) -> [(position, errno)]\n\n"
     "The paths that do not exist (`stat` fails), checked with the GIL released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kdataset.loading._fastread",
    .m_doc = "Reading many small files into the rows of one buffer, with the GIL released.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__fastread(void)
{
    return PyModule_Create(&module);
}
