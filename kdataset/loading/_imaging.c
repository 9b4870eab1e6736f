/* Resizing a decoded image into its place in a batch, with the GIL released.
 *
 * `resize(src, height, width, channels, dst, dst_height, dst_width, window, place, nearest,
 * to_uint8)` resizes the window `(y, x, h, w)` of `src` (uint8, C-contiguous, `height x
 * width x channels`) into the region `(y, x, h, w)` of `dst` (C-contiguous, `dst_height x
 * dst_width x channels`, float32, or uint8 with `to_uint8`) and leaves the rest of `dst` as
 * it is. The arithmetic is TensorFlow's `tf.image.resize` (the `ResizeBilinear` and
 * `ResizeNearestNeighbor` kernels with half-pixel centres, no antialiasing), in the same
 * float operations in the same order, so the pixels equal those of
 * `keras.utils.image_dataset_from_directory`. A window of the region's own size is a plain
 * copy. Into uint8, each of those floats is rounded to the nearest integer, ties to even
 * (NumPy's `rint`), so a pixel is within 0.5 of TensorFlow's.
 *
 * `area(src, height, width, channels, dst, dst_height, dst_width, window, place, to_uint8)`
 * takes the same arguments and resizes by exact area averaging: each output pixel is the
 * mean of the input area it covers, input pixels cut by its edges weighed by the fraction
 * of them inside (OpenCV's INTER_AREA; TensorFlow's "area"; Pillow's BOX filter equals it
 * where the sizes divide, and elsewhere takes whole pixels by their centres). It shrinks
 * without skipping pixels; enlarging, it repeats them, blending two at the seams.
 *
 * kdataset.loading.imaging has both functions in NumPy, used where this module was not
 * built, and the tests hold them equal.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A float of (-1, 256) rounded to the nearest uint8, ties to even. Adding and subtracting
 * 1.5 * 2^23 rounds a float of magnitude below 2^22 to an integer in the current rounding
 * mode (to nearest, ties to even), in two instructions that vectorize. Every value rounded
 * here is a weighted mean of bytes, weights summing to 1, so within a float's error of
 * [0, 255]: it rounds into [0, 255] without clamping (-0.0 converts to 0). */
static inline uint8_t
to_u8(float v)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    const float r = (v + 12582912.0f) - 12582912.0f;
#else /* x87 arithmetic keeps extra precision: the library's rounding */
    const float r = nearbyintf(v);
#endif
    return (uint8_t)(int32_t)r;
}

/* `count` floats into `out` at `offset` values: as they are, or rounded into uint8. */
static void
store(const float *values, void *out, int u8, Py_ssize_t offset, Py_ssize_t count)
{
    Py_ssize_t k;

    if (u8) {
        uint8_t *d = (uint8_t *)out + offset;
        for (k = 0; k < count; k++) {
            d[k] = to_u8(values[k]);
        }
    }
    else {
        memcpy((float *)out + offset, values, sizeof(float) * (size_t)count);
    }
}

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
 * input row (and the rounding into uint8). `rows` holds 3 * pw * channels + ww * channels
 * floats, `index` 2 * pw * channels. */
static void
bilinear(const uint8_t *in, void *out, int u8, Py_ssize_t in_row, Py_ssize_t out_row,
         Py_ssize_t channels, Py_ssize_t wy, Py_ssize_t wx, Py_ssize_t ww, Py_ssize_t py,
         Py_ssize_t px, Py_ssize_t ph, Py_ssize_t pw, const weight *yw, const weight *xw,
         float *rows, Py_ssize_t *index)
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
        const Py_ssize_t at = (py + y) * out_row + px * channels;
        if (u8) {
            uint8_t *d = (uint8_t *)out + at;
            for (k = 0; k < count; k++) {
                d[k] = to_u8(t[k] + (b[k] - t[k]) * y_lerp);
            }
        }
        else {
            float *d = (float *)out + at;
            for (k = 0; k < count; k++) {
                d[k] = t[k] + (b[k] - t[k]) * y_lerp;
            }
        }
    }
}

/* The input pixels `start .. start + count - 1` that output pixel covers, and where their
 * weights begin in the weights array. */
typedef struct {
    Py_ssize_t start, count, offset;
} span;

/* Exact area weights: output pixel `o` covers `[o * in / out, (o + 1) * in / out)` of the
 * input; input pixel `i` weighs the length of `[i, i + 1)` inside it over the length of it.
 * `w` holds at least in_size + 2 * out_size floats. */
static void
area_weights(Py_ssize_t out_size, Py_ssize_t in_size, span *s, float *w)
{
    Py_ssize_t o, i, n = 0;

    for (o = 0; o < out_size; o++) {
        /* Integer products, then one correctly rounded division: an exact integer stays one. */
        const double lo = (double)(o * in_size) / (double)out_size;
        const double hi = (double)((o + 1) * in_size) / (double)out_size;
        const Py_ssize_t first = (Py_ssize_t)floor(lo);
        Py_ssize_t end = (Py_ssize_t)ceil(hi);
        end = end < in_size ? end : in_size;
        s[o].start = first;
        s[o].count = end - first;
        s[o].offset = n;
        for (i = first; i < end; i++) {
            const double a = (double)i > lo ? (double)i : lo;
            const double b = (double)(i + 1) < hi ? (double)(i + 1) : hi;
            w[n++] = (float)((b - a) / (hi - lo));
        }
    }
}

/* One output region by area: down first (the window rows under each output row, weighed and
 * summed, over whole rows: vectorized), then across that row. `column` holds ww * channels
 * floats, `row` pw * channels. */
static void
area_resize(const uint8_t *in, void *out, int u8, Py_ssize_t in_row, Py_ssize_t out_row,
            Py_ssize_t channels, Py_ssize_t wy, Py_ssize_t wx, Py_ssize_t ww, Py_ssize_t py,
            Py_ssize_t px, Py_ssize_t ph, Py_ssize_t pw, const span *ys, const float *yw,
            const span *xs, const float *xw, float *column, float *row)
{
    const Py_ssize_t wide = ww * channels, count = pw * channels;
    Py_ssize_t x, y, c, i, k;

    for (y = 0; y < ph; y++) {
        const uint8_t *s = in + (wy + ys[y].start) * in_row + wx * channels;
        const float *w = yw + ys[y].offset;
        const float first = w[0];
        for (k = 0; k < wide; k++) {
            column[k] = first * (float)s[k];
        }
        for (i = 1; i < ys[y].count; i++) {
            const float wi = w[i];
            s += in_row;
            for (k = 0; k < wide; k++) {
                column[k] += wi * (float)s[k];
            }
        }
        if (channels == 3) {
            for (x = 0; x < pw; x++) {
                const float *v = column + xs[x].start * 3, *wx_ = xw + xs[x].offset;
                float r = 0.0f, g = 0.0f, b = 0.0f;
                for (i = 0; i < xs[x].count; i++) {
                    r += wx_[i] * v[3 * i];
                    g += wx_[i] * v[3 * i + 1];
                    b += wx_[i] * v[3 * i + 2];
                }
                row[3 * x] = r;
                row[3 * x + 1] = g;
                row[3 * x + 2] = b;
            }
        }
        else {
            for (x = 0; x < pw; x++) {
                const float *v = column + xs[x].start * channels, *wx_ = xw + xs[x].offset;
                for (c = 0; c < channels; c++) {
                    float sum = 0.0f;
                    for (i = 0; i < xs[x].count; i++) {
                        sum += wx_[i] * v[i * channels + c];
                    }
                    row[x * channels + c] = sum;
                }
            }
        }
        store(row, out, u8, (py + y) * out_row + px * channels, count);
    }
}

/* What both functions are given: the images, their sizes, the window and the place. */
typedef struct {
    Py_buffer src, dst;
    Py_ssize_t height, width, channels, dst_height, dst_width;
    Py_ssize_t wy, wx, wh, ww, py, px, ph, pw;
    int u8;
} job;

/* Releases the buffers and sets a ValueError unless the job's sizes hold together. */
static int
check(job *j, const char *name)
{
    const Py_ssize_t value_size = j->u8 ? 1 : (Py_ssize_t)sizeof(float);

    if (j->height < 1 || j->width < 1 || j->channels < 1 ||
        j->src.len != j->height * j->width * j->channels ||
        j->dst.len != j->dst_height * j->dst_width * j->channels * value_size || j->wh < 1 ||
        j->ww < 1 || j->wy < 0 || j->wx < 0 || j->wy + j->wh > j->height ||
        j->wx + j->ww > j->width || j->ph < 1 || j->pw < 1 || j->py < 0 || j->px < 0 ||
        j->py + j->ph > j->dst_height || j->px + j->pw > j->dst_width) {
        PyBuffer_Release(&j->src);
        PyBuffer_Release(&j->dst);
        PyErr_Format(PyExc_ValueError, "%s: sizes, window or place out of range", name);
        return 0;
    }
    return 1;
}

static PyObject *
resize(PyObject *self, PyObject *args)
{
    job j;
    int nearest, ok = 1;
    weight *xw = NULL, *yw = NULL;
    Py_ssize_t *xi = NULL, *yi = NULL, *index = NULL;
    float *rows = NULL;

    if (!PyArg_ParseTuple(args, "y*nnnw*nn(nnnn)(nnnn)pp", &j.src, &j.height, &j.width,
                          &j.channels, &j.dst, &j.dst_height, &j.dst_width, &j.wy, &j.wx, &j.wh,
                          &j.ww, &j.py, &j.px, &j.ph, &j.pw, &nearest, &j.u8)) {
        return NULL;
    }
    if (!check(&j, "resize")) {
        return NULL;
    }
    const Py_ssize_t ph = j.ph, pw = j.pw, channels = j.channels;
    if (nearest) {
        yi = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)ph);
        xi = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)pw);
        ok = yi != NULL && xi != NULL;
    }
    else {
        yw = PyMem_RawMalloc(sizeof(weight) * (size_t)ph);
        xw = PyMem_RawMalloc(sizeof(weight) * (size_t)pw);
        rows = PyMem_RawMalloc(sizeof(float) * (size_t)(3 * pw * channels + j.ww * channels));
        index = PyMem_RawMalloc(sizeof(Py_ssize_t) * 2 * (size_t)(pw * channels));
        ok = yw != NULL && xw != NULL && rows != NULL && index != NULL;
    }
    if (!ok) {
        PyErr_NoMemory();
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS
    const uint8_t *in = (const uint8_t *)j.src.buf;
    void *out = j.dst.buf;
    const int u8 = j.u8;
    const Py_ssize_t in_row = j.width * channels, out_row = j.dst_width * channels;
    const Py_ssize_t wy = j.wy, wx = j.wx, py = j.py, px = j.px;
    Py_ssize_t y, x, c;

    if (j.wh == ph && j.ww == pw) { /* the same size: a copy */
        for (y = 0; y < ph; y++) {
            const uint8_t *s = in + (wy + y) * in_row + wx * channels;
            const Py_ssize_t at = (py + y) * out_row + px * channels;
            if (u8) {
                memcpy((uint8_t *)out + at, s, (size_t)(pw * channels));
            }
            else {
                float *d = (float *)out + at;
                for (x = 0; x < pw * channels; x++) {
                    d[x] = (float)s[x];
                }
            }
        }
    }
    else if (nearest) {
        nearest_index(ph, j.wh, yi);
        nearest_index(pw, j.ww, xi);
        for (y = 0; y < ph; y++) {
            const uint8_t *s = in + (wy + yi[y]) * in_row + wx * channels;
            const Py_ssize_t at = (py + y) * out_row + px * channels;
            for (x = 0; x < pw; x++) {
                for (c = 0; c < channels; c++) {
                    const uint8_t v = s[xi[x] * channels + c];
                    if (u8) {
                        ((uint8_t *)out)[at + x * channels + c] = v;
                    }
                    else {
                        ((float *)out)[at + x * channels + c] = (float)v;
                    }
                }
            }
        }
    }
    else {
        bilinear_weights(ph, j.wh, yw);
        bilinear_weights(pw, j.ww, xw);
        bilinear(in, out, u8, in_row, out_row, channels, wy, wx, j.ww, py, px, ph, pw, yw, xw,
                 rows, index);
    }
    Py_END_ALLOW_THREADS

done:
    PyMem_RawFree(yi);
    PyMem_RawFree(xi);
    PyMem_RawFree(yw);
    PyMem_RawFree(xw);
    PyMem_RawFree(rows);
    PyMem_RawFree(index);
    PyBuffer_Release(&j.src);
    PyBuffer_Release(&j.dst);
    if (!ok) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
area(PyObject *self, PyObject *args)
{
    job j;
    span *ys = NULL, *xs = NULL;
    float *yw = NULL, *xw = NULL, *column = NULL, *row = NULL;

    if (!PyArg_ParseTuple(args, "y*nnnw*nn(nnnn)(nnnn)p", &j.src, &j.height, &j.width,
                          &j.channels, &j.dst, &j.dst_height, &j.dst_width, &j.wy, &j.wx, &j.wh,
                          &j.ww, &j.py, &j.px, &j.ph, &j.pw, &j.u8)) {
        return NULL;
    }
    if (!check(&j, "area")) {
        return NULL;
    }
    ys = PyMem_RawMalloc(sizeof(span) * (size_t)j.ph);
    xs = PyMem_RawMalloc(sizeof(span) * (size_t)j.pw);
    yw = PyMem_RawMalloc(sizeof(float) * (size_t)(j.wh + 2 * j.ph));
    xw = PyMem_RawMalloc(sizeof(float) * (size_t)(j.ww + 2 * j.pw));
    column = PyMem_RawMalloc(sizeof(float) * (size_t)(j.ww * j.channels));
    row = PyMem_RawMalloc(sizeof(float) * (size_t)(j.pw * j.channels));
    const int ok = ys != NULL && xs != NULL && yw != NULL && xw != NULL && column != NULL &&
                   row != NULL;
    if (!ok) {
        PyErr_NoMemory();
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        area_weights(j.ph, j.wh, ys, yw);
        area_weights(j.pw, j.ww, xs, xw);
        area_resize((const uint8_t *)j.src.buf, j.dst.buf, j.u8, j.width * j.channels,
                    j.dst_width * j.channels, j.channels, j.wy, j.wx, j.ww, j.py, j.px, j.ph,
                    j.pw, ys, yw, xs, xw, column, row);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(ys);
    PyMem_RawFree(xs);
    PyMem_RawFree(yw);
    PyMem_RawFree(xw);
    PyMem_RawFree(column);
    PyMem_RawFree(row);
    PyBuffer_Release(&j.src);
    PyBuffer_Release(&j.dst);
    if (!ok) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"resize", resize, METH_VARARGS,
     "resize(src, height, width, channels, dst, dst_height, dst_width, window, place, nearest,\n"
     "       to_uint8)\n\n"
     "Resizes the window (y, x, h, w) of the uint8 image `src` into the region\n"
     "(y, x, h, w) of the float32 image `dst` (uint8, rounded half to even, with\n"
     "`to_uint8`), as tf.image.resize does (bilinear, or nearest), with the GIL released."},
    {"area", area, METH_VARARGS,
     "area(src, height, width, channels, dst, dst_height, dst_width, window, place, to_uint8)\n\n"
     "Resizes the window (y, x, h, w) of the uint8 image `src` into the region\n"
     "(y, x, h, w) of the float32 image `dst` (uint8, rounded half to even, with\n"
     "`to_uint8`) by exact area averaging, with the GIL released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kdataset.loading._imaging",
    "Resizing decoded images into float32 or uint8 batches: as tf.image.resize does, or by "
    "area.",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__imaging(void)
{
    return PyModule_Create(&module);
}
