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
 * kdataset.loading.imaging has the same function in NumPy, used where this module was
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

/* One input row interpolated across: `row[k] = left + (right - left) * lerp` for every
 * output value `k` (TensorFlow's `top` or `bottom` in compute_lerp). */
static void
across(const uint8_t *in, Py_ssize_t width, const Py_ssize_t *left, const Py_ssize_t *right,
       const float *lerp, Py_ssize_t count, Py_ssize_t channels, float *wide, float *row)
{
    Py_ssize_t k;

    for (k = 0; k < width; k++) { /* vectorized: bytes to floats, a row at a time */
        wide[k] = (float)in[k];
    }
    if (channels == 3) { /* a pixel's three values share their index and weight */
        for (k = 0; k < count; k += 3) {
            const float *l = wide + left[k], *r = wide + right[k];
            const float w = lerp[k];
            row[k] = l[0] + (r[0] - l[0]) * w;
            row[k + 1] = l[1] + (r[1] - l[1]) * w;
            row[k + 2] = l[2] + (r[2] - l[2]) * w;
        }
        return;
    }
    for (k = 0; k < count; k++) {
        const float l = wide[left[k]], r = wide[right[k]];
        row[k] = l + (r - l) * lerp[k];
    }
}

/* One output region, bilinear: TensorFlow's compute_lerp, in its order of operations
 * (`top` and `bottom` across, then down), so the floats are the same. Each input row is
 * interpolated across once and kept while the next output row needs it too; the step down
 * runs over whole rows, which the compiler vectorizes, as it does the bytes-to-floats of each
 * input row. `rows` holds 3 * pw * channels + ww * channels floats, `index` 2 * pw * channels. */
static void
bilinear(const uint8_t *in, float *out, Py_ssize_t in_row, Py_ssize_t out_row, Py_ssize_t channels,
         Py_ssize_t wy, Py_ssize_t wx, Py_ssize_t ww, Py_ssize_t py, Py_ssize_t px,
         Py_ssize_t ph, Py_ssize_t pw, const weight *yw, const weight *xw, float *rows,
         Py_ssize_t *index)
{
    const Py_ssize_t count = pw * channels;
    Py_ssize_t *left = index, *right = index + count;
    float *lerp = rows + 2 * count, *wide = rows + 3 * count, *cached[2] = {rows, rows + count};
    Py_ssize_t cached_row[2] = {-1, -1}, x, y, c, k;

    for (x = 0; x < pw; x++) {
        for (c = 0; c < channels; c++) {
            left[x * channels + c] = xw[x].lower * channels + c;
            right[x * channels + c] = xw[x].upper * channels + c;
            lerp[x * channels + c] = xw[x].lerp;
        }
    }
    for (y = 0; y < ph; y++) {
        const Py_ssize_t wanted[2] = {yw[y].lower, yw[y].upper};
        float *found[2] = {NULL, NULL};
        int slot, i;
        for (i = 0; i < 2; i++) {
            for (slot = 0; slot < 2; slot++) {
                if (cached_row[slot] == wanted[i]) {
                    found[i] = cached[slot];
                }
            }
        }
        for (i = 0; i < 2; i++) {
            if (found[i] == NULL) {
                /* Reuse the slot that holds neither wanted row (or the other one's). */
                slot = (found[1 - i] == cached[0]) ? 1 : 0;
                if (i == 1 && found[0] == cached[slot]) {
                    slot = 1 - slot;
                }
                across(in + (wy + wanted[i]) * in_row + wx * channels, ww * channels, left, right,
                       lerp, count, channels, wide, cached[slot]);
                cached_row[slot] = wanted[i];
                found[i] = cached[slot];
            }
        }
        const float *t = found[0], *b = found[1];
        const float y_lerp = yw[y].lerp;
        float *d = out + (py + y) * out_row + px * channels;
        for (k = 0; k < count; k++) {
            d[k] = t[k] + (b[k] - t[k]) * y_lerp;
        }
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
    Py_ssize_t *xi = NULL, *yi = NULL, *index = NULL;
    float *rows = NULL;

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
        rows = PyMem_RawMalloc(sizeof(float) * (size_t)(3 * pw * channels + ww * channels));
        index = PyMem_RawMalloc(sizeof(Py_ssize_t) * 2 * (size_t)(pw * channels));
        ok = yw != NULL && xw != NULL && rows != NULL && index != NULL;
    }
    if (!ok) {
        PyErr_NoMemory();
        goto done;
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
        bilinear(in, out, in_row, out_row, channels, wy, wx, ww, py, px, ph, pw, yw, xw, rows,
                 index);
    }
    Py_END_ALLOW_THREADS

done:
    PyMem_RawFree(yi);
    PyMem_RawFree(xi);
    PyMem_RawFree(yw);
    PyMem_RawFree(xw);
    PyMem_RawFree(rows);
    PyMem_RawFree(index);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (!ok) {
        return NULL;
    }
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
    PyModuleDef_HEAD_INIT, "kdataset.loading._imaging",
    "Resizing decoded images into float32 batches, as tf.image.resize does.", -1, methods,
};

PyMODINIT_FUNC
PyInit__imaging(void)
{
    return PyModule_Create(&module);
}
