/* Resizing a decoded image into its place in a float32 batch, with the GIL released.
 *
 * `resize(src, height, width, channels, dst, dst_height, dst_width, window, place, nearest)`
 * resizes the window `(y, x, h, w)` of `src` (uint8, C-contiguous, `height x
 * width x channels`) into the region `(y, x, h, w)` of `dst` (float32,
 * C-contiguous, `dst_height x dst_width x channels`) and leaves the rest of
 * `dst` as it is. The arithmetic is TensorFlow's `tf.image.resize` (the
 * `ResizeBilinear` and `ResizeNearestNeighbor` kernels with half-pixel
 * centres, no antialiasing), in the same float operations in the same order,
 * so the pixels equal those of `keras.utils.image_dataset_from_directory`.
 * A window of the region's own size is a plain copy.
 *
 * kdataset.imaging has the same function in NumPy, used where this module was
 * not built, and the tests hold the two equal.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    Py_ssize_t lower, upper;
    float lerp;
} weight;

/* TensorFlow's compute_interpolation_weights with HalfPixelScaler. */
static void
bilinear_weights(Py_ssize_t out_size, Py_ssize_t in_size, weight *w)
{
    const float scale = (float)in_size / (float)out_size;
    Py_ssize_t i;

    for (i = 0; i < out_size; i++) {
        const float in = ((float)i + 0.5f) * scale - 0.5f;
        const float in_f = floorf(in);
        Py_ssize_t lower = (Py_ssize_t)in_f, upper = (Py_ssize_t)ceilf(in);
        w[i].lower = lower > 0 ? lower : 0;
        w[i].upper = upper < in_size - 1 ? upper : in_size - 1;
        w[i].lerp = in - in_f;
    }
}

/* TensorFlow's ResizeNearestNeighbor index with half-pixel centres. */
static void
nearest_index(Py_ssize_t out_size, Py_ssize_t in_size, Py_ssize_t *index)
{
    const float scale = (float)in_size / (float)out_size;
    Py_ssize_t i;

    for (i = 0; i < out_size; i++) {
        Py_ssize_t in = (Py_ssize_t)floorf(((float)i + 0.5f) * scale);
        in = in < in_size - 1 ? in : in_size - 1;
        index[i] = in > 0 ? in : 0;
    }
}

static PyObject *
resize(PyObject *self, PyObject *args)
{
    Py_buffer src, dst;
    Py_ssize_t height, width, channels, dst_height, dst_width;
    Py_ssize_t wy, wx, wh, ww, py, px, ph, pw;
    int nearest, ok = 1;
    weight *xw = NULL, *yw = NULL;
    Py_ssize_t *xi = NULL, *yi = NULL;

    if (!PyArg_ParseTuple(args, "y*nnnw*nn(nnnn)(nnnn)p", &src, &height, &width, &channels,
                          &dst, &dst_height, &dst_width, &wy, &wx, &wh, &ww, &py, &px, &ph,
                          &pw, &nearest)) {
        return NULL;
    }
    if (height < 1 || width < 1 || channels < 1 || src.len != height * width * channels ||
        dst.len != dst_height * dst_width * channels * (Py_ssize_t)sizeof(float) || wh < 1 ||
        ww < 1 || wy < 0 || wx < 0 || wy + wh > height || wx + ww > width || ph < 1 || pw < 1 ||
        py < 0 || px < 0 || py + ph > dst_height || px + pw > dst_width) {
        PyBuffer_Release(&src);
        PyBuffer_Release(&dst);
        PyErr_SetString(PyExc_ValueError, "resize: sizes, window or place out of range");
        return NULL;
    }
    if (nearest) {
        yi = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)ph);
        xi = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)pw);
        ok = yi != NULL && xi != NULL;
    }
    else {
        yw = PyMem_RawMalloc(sizeof(weight) * (size_t)ph);
        xw = PyMem_RawMalloc(sizeof(weight) * (size_t)pw);
        ok = yw != NULL && xw != NULL;
    }
    if (!ok) {
        PyMem_RawFree(yi);
        PyMem_RawFree(xi);
        PyMem_RawFree(yw);
        PyMem_RawFree(xw);
        PyBuffer_Release(&src);
        PyBuffer_Release(&dst);
        return PyErr_NoMemory();
    }

    Py_BEGIN_ALLOW_THREADS
    const uint8_t *in = (const uint8_t *)src.buf;
    float *out = (float *)dst.buf;
    const Py_ssize_t in_row = width * channels, out_row = dst_width * channels;
    Py_ssize_t y, x, c;

    if (wh == ph && ww == pw) { /* the same size: a copy */
        for (y = 0; y < ph; y++) {
            const uint8_t *s = in + (wy + y) * in_row + wx * channels;
            float *d = out + (py + y) * out_row + px * channels;
            for (x = 0; x < pw * channels; x++) {
                d[x] = (float)s[x];
            }
        }
    }
    else if (nearest) {
        nearest_index(ph, wh, yi);
        nearest_index(pw, ww, xi);
        for (y = 0; y < ph; y++) {
            const uint8_t *s = in + (wy + yi[y]) * in_row + wx * channels;
            float *d = out + (py + y) * out_row + px * channels;
            for (x = 0; x < pw; x++) {
                for (c = 0; c < channels; c++) {
                    d[x * channels + c] = (float)s[xi[x] * channels + c];
                }
            }
        }
    }
    else {
        bilinear_weights(ph, wh, yw);
        bilinear_weights(pw, ww, xw);
        for (y = 0; y < ph; y++) {
            const uint8_t *top = in + (wy + yw[y].lower) * in_row + wx * channels;
            const uint8_t *bottom = in + (wy + yw[y].upper) * in_row + wx * channels;
            const float y_lerp = yw[y].lerp;
            float *d = out + (py + y) * out_row + px * channels;
            for (x = 0; x < pw; x++) {
                const Py_ssize_t left = xw[x].lower * channels, right = xw[x].upper * channels;
                const float x_lerp = xw[x].lerp;
                for (c = 0; c < channels; c++) {
                    const float top_left = top[left + c], top_right = top[right + c];
                    const float bottom_left = bottom[left + c], bottom_right = bottom[right + c];
                    const float t = top_left + (top_right - top_left) * x_lerp;
                    const float b = bottom_left + (bottom_right - bottom_left) * x_lerp;
                    d[x * channels + c] = t + (b - t) * y_lerp;
                }
            }
        }
    }
    Py_END_ALLOW_THREADS

    PyMem_RawFree(yi);
    PyMem_RawFree(xi);
    PyMem_RawFree(yw);
    PyMem_RawFree(xw);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"resize", resize, METH_VARARGS,
     "resize(src, height, width, channels, dst, dst_height, dst_width, window, place, nearest)\n\n"
     "Resizes the window (y, x, h, w) of the uint8 image `src` into the region\n"
     "(y, x, h, w) of the float32 image `dst`, as tf.image.resize does (bilinear,\n"
     "or nearest), with the GIL released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kdataset._imaging",
    "Resizing decoded images into float32 batches, as tf.image.resize does.", -1, methods,
};

PyMODINIT_FUNC
PyInit__imaging(void)
{
    return PyModule_Create(&module);
}
