/* nnrt.h: the runtime every program emitted by nnc links (libnnrt.a).
 *
 * An emitted trainer is the model's math (forward, backward, update over a
 * static arena) plus a main that fills in one NnrtModel and calls
 * nnrt_main().  The runtime does everything else: flags, data loading and
 * batching, the training loop, logs, checkpoints and the gradient check.
 * The training loop is one driver (train.c) over a backend that runs the
 * steps and evaluations: the CPU backend calls the model's functions
 * below; the CUDA runtime supplies a device backend (see Backends).
 *
 * Writing a main by hand
 * ----------------------
 *     static float W[2], b[1], dW[2], db[1], vW[2], vb[1];   // params, grads, state
 *     static NnrtTensor params[] = {
 *         { "W", W, dW, 2, {2, 1}, 2 },          // name data grad rank shape numel
 *         { "b", b, db, 1, {1},    1 },
 *     };
 *     static NnrtTensor state[] = {               // optimizer state, saved in checkpoints
 *         { "opt.W.v", vW, NULL, 2, {2, 1}, 2 },
 *         { "opt.b.v", vb, NULL, 1, {1},    1 },
 *     };    // a batchnorm's running statistics come first in state[] (n_running)
 *     static float x_buf[4 * 2], t_buf[4 * 1], y_buf[4 * 1];  // B rows each
 *
 *     int main(int argc, char **argv)
 *     {
 *         NnrtModel m = {0};
 *         m.name = "gate_and";  m.batch = 4;  m.in_dim = 2;
 *         m.label_kind = NNRT_LABEL_FLOAT;  m.label_dim = 1;  m.out_dim = 1;
 *         m.acc_kind = NNRT_ACC_THRESHOLD;  m.acc_threshold = 0.0f;   // logits
 *         m.params = params;  m.n_params = 2;  m.state = state;  m.n_state = 2;
 *         m.init = my_init;  m.forward = my_forward;  m.backward = my_backward;
 *         m.update = my_update;  m.predict = my_predict;  m.train_step = my_train_step;
 *         m.epochs = 100;  m.lr = 1.0f;  m.final_lr = 1.0f;  m.decay = NNRT_DECAY_NONE;
 *         m.shuffle = 1;  m.seed = 0;  m.eval_every = 1;
 *         nnrt_source_init(&m.data);  m.data.kind = NNRT_SRC_GATE;  m.data.gate = "and";
 *         nnrt_source_init(&m.test);                              // no test set
 *         m.x_buf = x_buf;  m.t_buf = t_buf;  m.y_buf = y_buf;
 *         return nnrt_main(&m, argc, argv);
 *     }
 *
 * The six functions the model provides (see NnrtModel):
 *   init(seed)               params to their initial values (use NnrtRng and
 *                            nnrt_init_*), optimizer state to zero, running
 *                            statistics to theirs (mean 0, var 1), and the
 *                            dropout RNG seeded (stream NNRT_STREAM_DROPOUT).
 *   forward(x, t, n, mode)   the mean loss of n <= B rows; x is n*in_dim floats,
 *                            t is n int32 class ids (NNRT_LABEL_CLASS) or
 *                            n*label_dim floats (NNRT_LABEL_FLOAT).
 *   backward(n)              the gradient of the last forward's loss into every
 *                            NnrtTensor.grad (overwritten, not accumulated).
 *   update(lr, step)         one optimizer step over the params; step counts
 *                            from 1 (Adam's bias correction).
 *   predict(x, n, y)         n output rows of out_dim floats, no dropout.
 *   train_step(d, perm, start, n, lr, step)
 *                            one training step, the one the training loop
 *                            calls: nnrt_gather of rows perm[start..start+n)
 *                            of d into x_buf and t_buf, forward(TRAIN); a
 *                            loss that is not finite is returned at once
 *                            (no backward, no update: the params stay as
 *                            they were, and the run stops with exit 3);
 *                            else backward, update(lr, step) and the loss.
 *                            step counts from 1.
 *
 * What nnrt_main does, in order (with --predict FILE, steps 2-5 are
 * replaced by nnrt_predict, predict.c: params and input figures from
 * --load, or params alone from --init-from; FILE's rows, CSV with or
 * without the label column or IDX images, through predict in batches of
 * B; a CSV line of outputs and class a row to --out FILE or stdout):
 *   1. parses the flags (nnrt_args_parse; --help prints them with the
 *      model's defaults) and lays them over the train block's defaults;
 *   2. loads the training set with nnrt_data_load ("loading FILE... N
 *      rows" for files, unless --quiet); with validation = f, holds out
 *      round(f * rows) of its rows (nnrt_data_split, seeded by the run's
 *      seed; the figures of normalize come from the rows left); then the
 *      test set, normalised with the training figures and its class names
 *      read through the training set's;
 *   3. init(seed), then --init-from FILE (the params alone, from any
 *      safetensors file naming them: nnrt_init_from), or --load FILE
 *      (params, optimizer state, epoch, step and the batch an interrupted
 *      epoch reached); a file already at --epochs trains nothing: "nothing
 *      left to train" and how to train more, the summary, exit 0;
 *   4. --gradcheck: nnrt_gradcheck on the first batch, exit 0 or 1;
 *   5. trains epoch by epoch (below), writes the checkpoint (--save FILE or
 *      the train block's checkpoint, with the training set's input figures
 *      and class names in its metadata: see Checkpoints) and prints the
 *      summary.
 * Exit status: 0 done, 1 a data/checkpoint/file error (one line naming the
 * file), 2 bad flags, 3 the loss became NaN or infinite, 130 stopped by
 * SIGINT or SIGTERM.  A stop at a failed write (stdout, the CSV log) or a
 * non-finite loss still writes the checkpoint asked for, of the state at
 * the last epoch boundary.
 *
 * Stopping (stop.c): during training SIGINT and SIGTERM only set a flag;
 * the loop finishes the step at hand (on a backend that runs several
 * steps a call, that call's steps), and the epoch's end when it was the
 * epoch's last step, writes the state after it with epoch, step and batch
 * to --save, else the train block's checkpoint, else
 * MODEL.interrupted.safetensors, flushes the logs, prints one line on
 * stderr with the command that resumes (the run's own flags, --load FILE)
 * and exits 130.  --load of it goes on at the next batch of the same
 * permutation: interrupted and resumed, a run (without dropout) ends with
 * an unbroken run's params bit for bit.  --save-every N writes the same
 * file after every N-th epoch.  A second signal ends the program at once
 * (saves are atomic: the file is then the previous one, whole).
 *
 * One epoch e (counted from 0; printed from 1):
 *   lr_e    = nnrt_lr_at(lr, final_lr, decay, e, epochs)
 *   perm    = 0..rows-1, shuffled when shuffle is on by an NnrtRng seeded
 *             nnrt_rng_seed_stream(seed + e, NNRT_STREAM_SHUFFLE), so a
 *             resumed run sees the same permutations as an unbroken one
 *   batches = rows/B full batches, plus the last rows%B rows as a smaller
 *             batch unless drop_last
 *   a step  = gather -> forward(TRAIN) -> backward -> update(lr_e, ++step)
 *             (a non-finite loss stops the run before backward: exit 3);
 *             on the CPU the model's train_step takes it whole
 * A progress line is printed every log_every steps (--log-every, else the
 * train block's; counted over the whole run), or at the end of each epoch
 * when log_every is 0; its loss is the mean over the batches since the
 * previous line, weighted by rows (on a terminal, a line redrawn in place
 * replaces these: NnrtTick below):
 *     | epoch 3 | iter 10/10 | time 0.01s | loss 0.9123
 * Every eval_every epochs the validation rows and the test set are
 * evaluated at the end of the epoch (loss with forward(EVAL), accuracy
 * with predict) and their figures end that epoch's last line (printed
 * then even if log_every would not):
 *     ... | val loss 0.5012 | val acc 0.8333 | test loss 0.4567 | test acc 0.8512
 * early_stopping stops at the first evaluation whose validation loss (the
 * test loss when there is no validation) is above the best so far and
 * puts the best params back, with the running statistics they were
 * evaluated with (optimizer state is not rewound).  --log-csv
 * FILE (with --load: kept up to the checkpoint's epoch and appended to)
 * writes one row per epoch: the epoch's mean training loss, the training
 * accuracy after it (a predict pass, made only for the log or the plot),
 * the test figures when evaluated, lr_e (an empty field when no_lr: the
 * optimizer has no rate, and --lr only draws a warning), then the
 * validation figures.  --plot FILE.svg keeps the same figures per epoch
 * (NnrtHistory) and draws them when training ends, however it ends
 * (nnrt_plot_svg).  The summary evaluates the whole training set (and the
 * validation rows and the test set) after training:
 *     done: 300 epochs, 3000 steps in 0.12s (41.13 us a step) | loss 0.1296 | acc 0.9733
 * (epochs and steps: where training stands; the times: this run's own)
 * "resumed from FILE at epoch E, step S", "params from FILE" and "saved
 * FILE" lines come with --load, --init-from and the checkpoint; --quiet keeps only the summary (errors
 * still go to stderr).  Nothing is allocated inside the training loop.
 *
 * What emitted code calls besides nnrt_main: nnrt_sgemm for the matrix
 * products above 65,536 multiply-adds a batch (smaller ones are emitted as
 * loops with constant bounds; under --blas none the large ones go to a
 * loop GEMM written into the file), NnrtRng and nnrt_init_* in init,
 * nnrt_rng_uniform for dropout masks.
 *
 * Accuracy (NnrtModel.acc_kind): ARGMAX compares the argmax of each output
 * row with the class id (or the argmax of a one-hot label row); THRESHOLD
 * counts an output element as 1 when it is >= acc_threshold and compares it
 * with its 0/1 target (target >= 0.5); NONE reports no accuracy.
 *
 * Files and formats: see the sections below (IDX, CSV, safetensors).
 * All functions that can fail return 0 or -1 and write ONE line, naming
 * the file and the problem, into err (errlen bytes, always terminated).
 */
#ifndef NNRT_H
#define NNRT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define NNRT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NNRT_PRINTF(f, a)
#endif

#define NNRT_MAX_RANK 4

/* ===================================================================== *
 * RNG (rng.c): PCG32 (XSH-RR, 64-bit state), seeded through splitmix64.  *
 * Integer and uniform outputs are the same on every platform; normals go *
 * through libm's log/cos/sqrt in double, so only their last bit may vary *
 * between C libraries.                                                   *
 * ===================================================================== */
typedef struct NnrtRng {
    uint64_t state; /* PCG state */
    uint64_t inc;   /* PCG increment (odd): selects the stream */
} NnrtRng;

/* Streams: independent sequences from one seed, by purpose. */
enum { NNRT_STREAM_INIT = 0, NNRT_STREAM_DROPOUT = 1, NNRT_STREAM_SHUFFLE = 2, NNRT_STREAM_DATA = 3,
       NNRT_STREAM_VALIDATION = 4 };

void nnrt_rng_seed(NnrtRng *r, uint64_t seed);    /* = seed_stream(r, seed, 0) */
void nnrt_rng_seed_stream(NnrtRng *r, uint64_t seed, uint64_t stream);
uint32_t nnrt_rng_u32(NnrtRng *r);
uint32_t nnrt_rng_below(NnrtRng *r, uint32_t n);  /* unbiased in [0, n), n >= 1 */
float nnrt_rng_uniform(NnrtRng *r);               /* [0,1): top 24 bits * 2^-24 */
float nnrt_rng_normal(NnrtRng *r);                /* N(0,1), Box-Muller */
uint64_t nnrt_splitmix64(uint64_t *x);            /* advances *x, returns the next output */
/* r as if nnrt_rng_u32 had been called delta more times (each uniform is
 * one draw): a data-parallel run puts each rank's dropout draws where one
 * process would have made them. */
void nnrt_rng_advance(NnrtRng *r, uint64_t delta);

/* Initialisers (glorot and he are normal with a std the compiler computes). */
void nnrt_init_fill(float *p, size_t n, float v);
void nnrt_init_normal(float *p, size_t n, float std, NnrtRng *r);
void nnrt_init_uniform(float *p, size_t n, float lo, float hi, NnrtRng *r);
/* Fisher-Yates over perm's current contents, with unbiased bounded ints. */
void nnrt_shuffle(uint32_t *perm, size_t n, NnrtRng *r);

/* ===================================================================== *
 * Data (data.c, idx.c, csv.c)                                            *
 * ===================================================================== */
typedef enum {
    NNRT_SRC_NONE,
    NNRT_SRC_SPIRAL, /* classes, points, seed */
    NNRT_SRC_XOR,    /* the 4 rows of xor */
    NNRT_SRC_GATE,   /* gate: "and" "or" "nand" "xor" */
    NNRT_SRC_TABLE,  /* table_x, table_t, table_rows, table_t_dim */
    NNRT_SRC_IDX,    /* images, labels */
    NNRT_SRC_CSV     /* csv_path, csv_label, csv_header */
} NnrtSourceKind;

enum { NNRT_LABEL_CLASS = 0, NNRT_LABEL_FLOAT = 1 };
/* normalize: none; two scalars over all input values (normalize=true);
 * a mean and std per input column (normalize="column").  Either way the
 * figures are population statistics (divided by the row count) of the
 * training inputs after scale, in double; a std of 0 (a constant input or
 * column), below the smallest normal float or past the float range is
 * taken as 1, so that input is only centred (as scikit-learn's
 * StandardScaler does). */
enum { NNRT_NORM_NONE = 0, NNRT_NORM_ALL = 1, NNRT_NORM_COLUMN = 2 };

/* A data source as the train block wrote it.  nnrt_source_init() sets the
 * neutral values (kind NONE, scale 1, csv_label -1, csv_header 1). */
typedef struct NnrtSource {
    NnrtSourceKind kind;
    int classes, points; uint64_t seed;           /* spiral */
    const char *gate;                             /* gate */
    const float *table_x;                         /* table: table_rows rows of in_dim */
    const float *table_t;                         /*        table_rows rows of table_t_dim */
    size_t table_rows, table_t_dim;               /*        (class ids are written as floats, width 1) */
    const char *images, *labels;                  /* idx paths */
    const char *csv_path; int csv_label; int csv_header; /* label column, negative from the end */
    float scale;    /* inputs are multiplied by scale (1: none; 0 is taken as 1) */
    int normalize;  /* NNRT_NORM_*: subtract the training mean, divide by the training std
                       (of all values, or of each input column) */
    int flatten;    /* images to rows: rows are always stored flat, so this only documents intent */
    int one_hot;    /* K > 0: class ids become one-hot rows of width K */
    size_t ids;     /* V > 0: the inputs are ids in [0, V) (an i32 input; nnrt_main sets it
                       from NnrtModel.in_ids): CSV input fields are read as integers from
                       their digits, a table's values must be integers, and an id outside
                       [0, V) is refused with the file and the line; 0: numbers */
} NnrtSource;

/* A loaded data set.  Inputs stay in their stored type (IDX images as
 * bytes: 60,000 MNIST images cost 47 MB, not 188 MB) and are converted per
 * batch by nnrt_gather:  x = (raw * x_scale - x_mean) / x_std, or per
 * column j (NNRT_NORM_COLUMN)  x_j = (raw_j * x_scale - col_mean[j]) / col_std[j].
 * A test set (and a validation split) holds the training set's figures. */
typedef struct NnrtData {
    size_t rows, in_dim;
    uint8_t *xb; float *xf;          /* rows*in_dim inputs: exactly one is set */
    float x_scale, x_mean, x_std;    /* mean 0 and std 1 when normalize is off */
    int normalized;                  /* NNRT_NORM_*: how x_mean/x_std (or col_*) were set */
    float *col_mean, *col_std;       /* NNRT_NORM_COLUMN: in_dim figures each (owned), else NULL */
    char **class_names;              /* a CSV label column of strings: the name of each id, */
    size_t n_class_names;            /*   in order of first appearance (owned), else NULL, 0 */
    int32_t *tc; float *tf;          /* labels: rows class ids, or rows*t_dim floats */
    size_t t_dim;                    /* width of tf rows (1 for class ids) */
    int label_kind;                  /* NNRT_LABEL_CLASS (tc) or NNRT_LABEL_FLOAT (tf) */
    int classes;                     /* max id + 1, one-hot width, or 0 when unknown */
} NnrtData;

void nnrt_source_init(NnrtSource *s);
/* "spiral(classes=3, points=100, seed=1984)", "idx(images=..., labels=...)" */
void nnrt_source_describe(const NnrtSource *s, char *buf, size_t len);

/* Loads s for a model whose rows have in_dim inputs and whose labels are
 * label_kind (CLASS: one int32 id in [0, classes), classes the model's
 * class count, 1..2^24 (nnrt_model_classes); FLOAT: label_dim floats,
 * classes unused).  Labels are converted to fit: ids -> one-hot rows when
 * one_hot=K or when the model wants FLOAT rows of width K > 1 (ids then in
 * [0, K)); ids -> 0/1 floats for width 1.  Every class id is checked
 * before it is used: CSV labels are read as integers (no float rounding),
 * IDX labels are bytes; an id outside [0, K) is refused with its place
 * and the likely cause ("are the labels 1-based?").  An empty set is
 * refused.  train_stats: NULL for a training set; for a test set, the
 * training set, whose figures its normalize uses (when it normalizes the
 * same way) and through whose class_names a CSV file's labels are read
 * (nnrt_csv_read_known).  A training CSV file whose labels are names
 * fills class_names.  0, or -1 with one line in err (FILE: place: what is
 * wrong; cause) and nothing kept. */
int nnrt_data_load(const NnrtSource *s, size_t in_dim, int label_kind, size_t label_dim,
                   size_t classes, NnrtData *out, const NnrtData *train_stats, char *err,
                   size_t errlen);
void nnrt_data_free(NnrtData *d);

/* Holds out round(fraction * rows) rows of a loaded training set d into
 * val, for validation=fraction: the rows are the first of a permutation of
 * 0..rows-1 shuffled (nnrt_shuffle) by an NnrtRng seeded
 * nnrt_rng_seed_stream(seed, NNRT_STREAM_VALIDATION), so the same seed
 * holds out the same rows; both sets keep the file's row order.  d keeps
 * the rest, and its normalizing figures are computed again from them (the
 * held-out rows never count); val takes d's figures, as a test set does.
 * fraction must lie in (0, 1) and leave at least 1 row on each side.  0,
 * or -1 with one line in err (val empty). */
int nnrt_data_split(NnrtData *d, double fraction, uint64_t seed, NnrtData *val, char *err,
                    size_t errlen);

/* Copies rows perm[start..start+n) (perm NULL: rows start..start+n) into
 * x (n*in_dim floats, converted) and t (n int32 ids or n*t_dim floats;
 * t NULL: inputs only). */
void nnrt_gather(const NnrtData *d, const uint32_t *perm, size_t start, size_t n,
                 float *x, void *t);

/* The built-in sources, for tests and hand-written mains.  Labels come out
 * as floats of width 1 (class ids) in lab; x as floats. */
int nnrt_spiral(int classes, int points, uint64_t seed, float *x, float *lab);
int nnrt_gate_table(const char *gate, float x[8], float lab[4]); /* -1: unknown gate */

/* IDX (idx.c): magic 00 00 08 ND (unsigned bytes, ND dimensions, each a
 * big-endian uint32), then the bytes and nothing after them.  Raw, or
 * gzip (1f 8b): inflated to the end of the file, every member's CRC and
 * length checked, trailing bytes refused.  Images are 0x00000803 (count,
 * rows, cols), labels 0x00000801 (count).  item > 0: the bytes a row must
 * have (the model's input), checked right after the header.  The header
 * is checked against the file before the data is allocated: a raw file's
 * exact size, a gzip file's 1032:1 bound (its buffer grows as data comes). */
typedef struct NnrtIdx {
    uint8_t *bytes;                 /* count * item bytes */
    size_t count, item;             /* first dimension, product of the others */
    int ndims; uint32_t dims[4];
    int gzip;                       /* the file was gzip */
} NnrtIdx;
int nnrt_idx_read(const char *path, int ndims, size_t item, NnrtIdx *out, char *err,
                  size_t errlen);
void nnrt_idx_free(NnrtIdx *idx);

/* CSV (csv.c): fields separated by commas, one row a line, optional
 * header line (skipped; when it reads as data, every field a number but
 * the label's in a file of class names, one warning on stderr: "nnrt:
 * FILE: line 1 looks like data, not a header; it was skipped: use
 * header=false if it is data"), blank lines skipped, \r\n
 * accepted.  A field may be quoted as RFC 4180 has it ("a, b", a quote
 * inside written twice: "say ""hi"""), on one line; its text is what lies
 * between the quotes, or a bare field without the spaces around it.  Every
 * feature field must be a number (strtod over the whole text).  The label
 * column (negative: from the end) is split off.  With classes = K > 0
 * (K <= 2^24) the file decides what its labels are: when every label is a
 * number, class ids, integers read from their digits ("3", "3.0") in
 * [0, K); when any label is not a number, class names, each distinct name
 * (exact text, case counts) the next id in order of first appearance,
 * kept in names; more than K names is an error naming the name and K.
 * K = 0: any number.  Memory grows with the rows read (at most a few
 * times the file's size).  Errors name FILE, line and column. */
typedef struct NnrtCsv {
    size_t rows, cols;              /* cols counts every field, label included */
    float *x;                       /* rows * (cols-1) features */
    float *lab;                     /* rows labels (class ids as floats when names) */
    char **names;                   /* the file's class names by id (owned), or NULL, */
    size_t n_names;                 /*   0: its labels were numbers, or read through known */
} NnrtCsv;
int nnrt_csv_read(const char *path, int header, int label_col, size_t classes,
                  NnrtCsv *out, char *err, size_t errlen);
/* For prediction: rows of in_dim inputs, or in_dim inputs and a label
 * (in_dim + 1 fields, the label in column label_col, negative from the
 * end, skipped without being read: a number or a name); the first data
 * line's field count says which, and any other count is an error naming
 * both.  header < 0: found out, a header being a first line one of whose
 * input fields is not a number.  x has in_dim floats a row, lab stays
 * NULL, cols is the field count. */
int nnrt_csv_read_inputs(const char *path, int header, size_t in_dim, int label_col,
                         NnrtCsv *out, char *err, size_t errlen);
/* The readers above for a model whose inputs are ids in [0, ids) (ids > 0,
 * at most 2^24): every input field is read as an integer from its digits
 * ("7", "7.0"; not "7.5" or "7e0"), and one outside [0, ids) is an error
 * naming the file, the line and the column.  nnrt_csv_read_ids reads as
 * nnrt_csv_read, or, when known is 1, as nnrt_csv_read_known through
 * names[0..n_names). */
int nnrt_csv_read_ids(const char *path, int header, int label_col, size_t classes, size_t ids,
                      int known, char *const *names, size_t n_names, NnrtCsv *out, char *err,
                      size_t errlen);
int nnrt_csv_read_inputs_ids(const char *path, int header, size_t in_dim, int label_col,
                             size_t ids, NnrtCsv *out, char *err, size_t errlen);
/* As nnrt_csv_read, with labels read through another file's class names
 * (a test set through its training set's): known[0..n_known) name ids
 * 0..n_known-1 and every label must be one of them (as text: "1" is the
 * name "1"); a name that is not is an error naming the file, the line and
 * the name.  n_known 0: the other file's labels were class ids, so labels
 * must be class ids and a name is an error.  out->names stays NULL. */
int nnrt_csv_read_known(const char *path, int header, int label_col, size_t classes,
                        char *const *known, size_t n_known, NnrtCsv *out, char *err,
                        size_t errlen);
void nnrt_csv_free(NnrtCsv *c);

/* ===================================================================== *
 * GEMM (gemm.c): row-major C = alpha*op(A)*op(B) + beta*C, op(A) MxK,    *
 * op(B) KxN.  With NNRT_CBLAS a BLAS (BLIS or OpenBLAS), else the loops. *
 * beta == 0 overwrites C without reading it.                             *
 * ===================================================================== */
void nnrt_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc);
/* OpenBLAS picks its kernels when it loads, from the CPU it recognises or
 * from OPENBLAS_CORETYPE.  OpenBLAS 0.3.21 does not recognise AMD's AVX-512
 * processors (Zen 4) and falls back to its Haswell (AVX2) kernels, half as
 * fast there.  nnrt_blas_tune(argv), called first thing in main, re-runs
 * the program once with OPENBLAS_CORETYPE=SkylakeX when the CPU has
 * AVX-512 (F, CD, BW, DQ, VL) and OpenBLAS chose an AVX2 core (Haswell or
 * Zen, also when OPENBLAS_CORETYPE asked for one of those: some machines
 * set OPENBLAS_CORETYPE=Haswell for every program).  Any other
 * OPENBLAS_CORETYPE, or NNRT_BLAS_KEEP=1, leaves the choice alone.
 * It also sets the thread count: OMP_NUM_THREADS (1 when unset; a whole
 * number from 1 to NNRT_MAX_THREADS, anything else ends the program with
 * one line and exit 2) threads of nnc's own (nnrt_threads_start), while
 * OpenBLAS always runs on one: its own threads measured slower at a
 * training step's sizes (784-100-10, batch 100: 0.98 s against 1.35 s for
 * 5 epochs on a 2-core machine).  nnrt_sgemm splits a product of at least
 * 2^19 multiply-adds into one block of C's rows (or columns) per thread,
 * and nnrt_gather a batch's rows likewise; the split depends on the thread
 * count alone, nothing is reduced across threads, so two runs with the
 * same count give the same bits (a different count may differ in the last
 * bits, where OpenBLAS's kernel blocks the product differently). */
void nnrt_blas_tune(char **argv);
#define NNRT_MAX_THREADS 64
/* Starts n - 1 workers once (later calls change nothing); returns the
 * threads now running, the caller included (fewer when one fails to start). */
int nnrt_threads_start(int n);
int nnrt_threads(void);
/* fn(ctx, part, parts) for part = 0..parts-1 (parts = nnrt_threads()), part
 * 0 on the calling thread; returns when every part has returned. */
void nnrt_parallel(void (*fn)(void *ctx, int part, int parts), void *ctx);
void nnrt_sgemm_loops(int trans_a, int trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc);

/* ===================================================================== *
 * The model descriptor and the driver (train.c)                          *
 * ===================================================================== */
typedef struct NnrtTensor {
    const char *name;      /* "W1", "h.W"; optimizer state: "opt.W1.m"; running statistics: "h.mean" */
    float *data;
    float *grad;           /* NULL for optimizer state and frozen params */
    int rank;
    int shape[NNRT_MAX_RANK];
    size_t numel;
} NnrtTensor;

enum { NNRT_TRAIN = 0, NNRT_EVAL = 1, NNRT_TRAIN_SAME_MASK = 2 };   /* forward modes */
enum { NNRT_ACC_NONE = 0, NNRT_ACC_ARGMAX = 1, NNRT_ACC_THRESHOLD = 2 };
enum { NNRT_DECAY_NONE = 0, NNRT_DECAY_LINEAR = 1, NNRT_DECAY_EXPONENTIAL = 2 };

typedef struct NnrtModel {
    const char *name;
    size_t batch;                  /* B */
    size_t in_dim;                 /* floats per input row */
    size_t in_ids;                 /* V > 0: the input is i32 ids in [0, V), carried in the
                                      x floats (exact: V <= 2^24) and checked at load time
                                      (NnrtSource.ids); 0: f32 inputs */
    int label_kind;                /* NNRT_LABEL_CLASS or NNRT_LABEL_FLOAT */
    size_t label_dim;              /* floats per label row (FLOAT) */
    size_t out_dim;                /* floats per predict row */
    size_t classes;                /* CLASS labels: ids lie in [0, classes), the class count
                                      of the loss (0: out_dim); nnrt_model_classes */
    int acc_kind;                  /* NNRT_ACC_* */
    float acc_threshold;           /* THRESHOLD: 0.5 for probabilities, 0 for logits */
    NnrtTensor *params; int n_params;
    NnrtTensor *state; int n_state;  /* not trained, saved in checkpoints: running statistics,
                                        then optimizer state */
    int n_running;                 /* the first n_running tensors of state are running statistics
                                      (batchnorm's h.mean, h.var: moved by update, read by EVAL
                                      and predict, restored by --load, kept with the best params
                                      of early stopping); the rest is optimizer state */
    void (*init)(uint64_t seed);
    float (*forward)(const float *x, const void *t, int n, int mode);
    void (*backward)(int n);
    void (*update)(float lr, long step);
    void (*predict)(const float *x, int n, float *y);
    float (*train_step)(const NnrtData *d, const uint32_t *perm, size_t start, int n, float lr,
                        long step);
    /* the train block: defaults that flags override */
    int epochs; float lr, final_lr; int decay;
    int no_lr;                     /* 1: the optimizer takes no learning rate (adadelta): lr is
                                      unused, --lr gets a warning and changes nothing, and
                                      --help and the CSV log show no rate */
    int shuffle, drop_last; uint64_t seed;
    int log_every, eval_every, early_stopping;
    float validation;              /* (0, 1): that fraction of the training rows held out
                                      (nnrt_data_split); 0: none */
    const char *checkpoint;        /* NULL: none */
    NnrtSource data, test;         /* test.kind NONE: no test set */
    float *x_buf; void *t_buf; float *y_buf;  /* B rows each, static in the emitted file */
    void (*blas_tune)(char **argv);  /* nnrt_blas_tune when the model calls nnrt_sgemm, else NULL */
    /* for a data-parallel run (nnc --mpi; runtime/mpi/nnrt_mpi.h); NULL and 0 elsewhere */
    float *grads; size_t n_grads;  /* the contiguous block every param's grad lies in (the one
                                      allreduce of a step); NULL: each grad reduced alone */
    NnrtRng *drop_rng;             /* the generator forward(TRAIN) draws dropout masks from, */
    size_t drop_draws;             /*   and its draws a row (one uniform per masked unit) */
} NnrtModel;

/* The class count nnrt_data_load checks ids against (data.c): classes,
 * or out_dim when 0, for CLASS labels; 0 for FLOAT labels. */
size_t nnrt_model_classes(const NnrtModel *m);

typedef struct NnrtArgs NnrtArgs;

/* Parses argv, trains, returns the exit status (0, 1, 2, 3 or 130). */
int nnrt_main(NnrtModel *m, int argc, char **argv);

/* lr for epoch e of E:  none: lr;  linear: lr + (final-lr)*e/(E-1);
 * exponential: lr * (final/lr)^(e/(E-1)) (needs lr, final > 0, else lr). */
float nnrt_lr_at(float lr, float final_lr, int decay, int e, int epochs);

/* The rows of batch `it` of an epoch of `rows` rows: B, or the rest for
 * the last batch of an epoch that does not drop it. */
size_t nnrt_batch_rows(const NnrtModel *m, size_t rows, long it);
size_t nnrt_tensors_numel(const NnrtTensor *t, int n);   /* the floats in t[0..n) */

/* Mean loss (forward EVAL, weighted by rows) and accuracy (predict; NaN
 * for NNRT_ACC_NONE) over the whole of d, in batches of B in row order. */
void nnrt_evaluate(const NnrtModel *m, const NnrtData *d, double *loss, double *acc);
/* The sums behind it over rows [from, to) of d (from a multiple of B), in
 * batches of B: sums[0] += loss * rows (want_loss), sums[1] += right
 * predictions, sums[2] += predictions judged (an accuracy model).  A
 * data-parallel run adds them up over the ranks. */
void nnrt_evaluate_rows(const NnrtModel *m, const NnrtData *d, size_t from, size_t to, int want_loss,
                        double sums[3]);

/* Gradient check (gradcheck.c) on the first min(B, rows) rows: analytic
 * grads from forward(TRAIN) + backward against central differences
 *     n = (L(p+h) - L(p-h)) / (h+ + h-),  h = 1e-3 (the float steps actually taken)
 * with forward(TRAIN_SAME_MASK), for every element of params up to 200
 * elements, else a stratified sample of 200.  Error per element:
 *     err = |a - n| / max(|a|, |n|, 1000 * FLT_EPSILON * max(1, |L|) / h)
 * i.e. 1% relative, or within 10 float roundings of the loss over the step
 * (float losses make n that noisy; see gradcheck.c).  Prints a line per
 * param and a verdict; returns 0 when the worst err <= 1e-2, else 1.
 * Params are restored exactly. */
#define NNRT_GRADCHECK_EPS 1e-3
#define NNRT_GRADCHECK_LIMIT 1e-2
int nnrt_gradcheck(const NnrtModel *m, const NnrtData *d, FILE *out);

/* ===================================================================== *
 * Flags (args.c)                                                         *
 * ===================================================================== */
struct NnrtArgs {
    int epochs;                    /* -1: not given */
    float lr;                      /* NaN: not given */
    int has_seed; uint64_t seed;
    const char *data[2]; int n_data;   /* --data PATH[,PATH]; n_data 0: not given */
    const char *test[2]; int n_test;   /* --test PATH[,PATH] */
    const char *save, *load, *log_csv; /* NULL: not given */
    const char *init_from;             /* --init-from FILE: params only (not with --load) */
    const char *plot;                  /* --plot FILE.svg: loss and accuracy per epoch */
    int save_every;                /* 0: not given (off) */
    int log_every;                 /* -1: not given */
    const char *predict, *out;         /* --predict FILE, --out FILE (NULL: standard output) */
    int quiet, gradcheck, help;
    int argc; char **argv;         /* the command line, for the resume hint */
    char *owned[2];                /* copies behind data/test, freed by nnrt_args_free */
};

/* Accepts "--flag value" and "--flag=value".  0 on success (args->help set
 * for --help); 2 after printing one line to err naming the flag and
 * "try 'PROG --help'": a bad value, an unknown flag, --init-from with
 * --load, --out without --predict, --predict without --load or
 * --init-from or with a training flag (--epochs, --lr, --seed, --data,
 * --test, --save, --save-every, --log-csv, --log-every, --plot,
 * --gradcheck). */
int nnrt_args_parse(int argc, char **argv, NnrtArgs *args, const char *prog, FILE *err);
void nnrt_args_free(NnrtArgs *args);
/* The command that resumes this run from a checkpoint: argv as parsed
 * (argv[0], else prog), its --load and --init-from left out (the
 * checkpoint holds the params), then "--load PATH"; each word
 * shell-quoted where it needs to be. */
void nnrt_args_resume(FILE *out, const NnrtArgs *args, const char *prog, const char *path);
/* Every flag, one line each, with the model's defaults. */
void nnrt_args_usage(FILE *out, const char *prog, const NnrtModel *m);
/* nnrt_main after the flags (train.c): progress and summary to out,
 * errors to err; returns the exit status.  nnrt_run_on with the CPU
 * backend (below). */
int nnrt_run(NnrtModel *m, const NnrtArgs *args, FILE *out, FILE *err);

/* ===================================================================== *
 * Backends (train.c): where the steps and evaluations of a run happen    *
 * ===================================================================== */
/* nnrt_run_on(m, b, ...) is the one training driver: flags, data
 * loading, init, --init-from and --load, the epochs and their
 * permutations, progress lines, the CSV log, early stopping, checkpoints
 * (the copy at each epoch boundary, --save-every, an interrupt's), the
 * summary and the plot, as described at the top of this file.  A backend
 * only computes: it runs training steps, evaluates sets and holds the
 * params and optimizer state, through the functions below.  nnrt_run
 * uses the CPU backend (train.c): the model's own functions over the host
 * tensors, one step per call, as "a step" above.  The CUDA runtime
 * (nnrt_cuda.cu) keeps the sets, params and state on the device, replays a
 * captured graph per step and reads the losses back once per call.
 *
 * What the driver calls, and when:
 *   prepare(b, m, sets, early)   once, after loading: sets[NNRT_SET_*] the
 *                                training set, the held-out rows and the
 *                                test set (NULL: none); early: best will be
 *                                called.  0, or -1 with one line in err.
 *   push(b)                      after m->init(seed) and --init-from or
 *                                --load wrote the host tensors (m->params,
 *                                m->state): they become the backend's
 *   epoch(b, perm, lr, step, first)   at each epoch's start: its order of
 *                                rows (perm[0..rows), kept until the next
 *                                call), its rate, the updates done before
 *                                it and the batch it starts at (> 0 when a
 *                                resumed run goes on inside it)
 *   steps(b, from, to, losses)   batches [from, to) of the epoch, 1 <=
 *                                to - from <= chunk, batch `it` being rows
 *                                perm[it*B ..) (nnrt_batch_rows of them):
 *                                each a step, gather -> forward(TRAIN) ->
 *                                backward -> update(lr, ++step); losses[k]
 *                                = batch from+k's loss.  A backend may stop
 *                                after a non-finite loss: the driver stops
 *                                at the first one and reads no further
 *   evaluate(b, set, want_loss, loss, acc)   the mean loss (forward EVAL,
 *                                weighted by rows; NaN when !want_loss)
 *                                and accuracy (predict, as "Accuracy"
 *                                above; NaN for NNRT_ACC_NONE) over a whole
 *                                set, in batches of B in row order
 *   best(b, restore)             early stopping: 0 keeps a copy of the
 *                                params and running statistics (not the
 *                                optimizer state), 1 puts it back
 *   pull(b)                      before the driver reads the host tensors
 *                                (the checkpoint's copy, a checkpoint): the
 *                                backend's params and state into them
 *   release(b)                   at the end, whether prepare ran or not
 * push and pull may be NULL: the backend works on the host tensors.
 * chunk: the most steps one steps() call runs.  After each call the
 * driver takes the losses in order, and looks at the progress line, the
 * terminal's line and the stop signal; a call ends where a progress line
 * is due (log_every), so every backend prints the same lines.  The CPU
 * backend's chunk is 1 (a stop signal is seen after every step), the
 * CUDA backend's 256.  Every backend must compute what the CPU backend
 * computes, bit for bit where the arithmetic allows.
 *
 * Training on several processes (data parallel, MPI: nnc --mpi,
 * runtime/mpi/nnrt_mpi.c, docs/mpi.md) is one more backend, the driver
 * unchanged but for rank (only rank 0 prints, reads --load and
 * --init-from, and writes the CSV log, the plot and every checkpoint),
 * agree (after each run of steps, and at an epoch's end, the stop signal
 * is the one every rank agreed on, so all ranks stop after the same step)
 * and share (the epoch, step and batch that rank 0 read from --load).  In
 * its steps() each rank takes its share of each batch's rows, runs
 * forward, sums the losses (and whether any rank saw a stop signal) over
 * the ranks, runs backward, scales the contiguous gradient block
 * (NnrtModel.grads) by its share of the rows and sums it over the ranks
 * with one MPI_Allreduce, then update: every rank applies the update one
 * process would.  push broadcasts rank 0's params and state; evaluate
 * splits a set's batches over the ranks and sums the losses and counts. */
enum { NNRT_SET_TRAIN = 0, NNRT_SET_VAL = 1, NNRT_SET_TEST = 2, NNRT_SETS = 3 };
typedef struct NnrtBackend NnrtBackend;
struct NnrtBackend {
    void *self;            /* the backend's own state */
    long chunk;            /* >= 1 */
    int (*prepare)(NnrtBackend *b, NnrtModel *m, const NnrtData *const sets[NNRT_SETS],
                   int early, char *err, size_t errlen);
    void (*push)(NnrtBackend *b);
    void (*pull)(NnrtBackend *b);
    void (*epoch)(NnrtBackend *b, const uint32_t *perm, float lr, long step, long first);
    void (*steps)(NnrtBackend *b, long from, long to, float *losses);
    void (*evaluate)(NnrtBackend *b, int set, int want_loss, double *loss, double *acc);
    void (*best)(NnrtBackend *b, int restore);
    void (*release)(NnrtBackend *b);
    /* A data-parallel run (runtime/mpi); 0 and NULL for one process. */
    int rank;              /* this process's rank: only rank 0 prints, reads --load and
                              --init-from, and writes the log, the plot and checkpoints */
    int (*agree)(NnrtBackend *b, int sig);       /* the stop signal every rank acts on, given
                                                    this rank's (NULL: sig itself) */
    void (*share)(NnrtBackend *b, long *v, int n); /* rank 0's n values to every rank */
    int ranks;             /* how many (0 or 1: one process); an interrupt's resume
                              command starts "mpirun -np N" when above 1 */
};
/* A run (nnrt_run's) on backend b; returns the exit status. */
int nnrt_run_on(NnrtModel *m, NnrtBackend *b, const NnrtArgs *args, FILE *out, FILE *err);

/* ===================================================================== *
 * Stopping (stop.c)                                                      *
 * ===================================================================== */
/* From nnrt_stop_catch to nnrt_stop_release (the training loop), SIGINT
 * and SIGTERM only record themselves: nnrt_stop_signal() returns the
 * signal (0: none), and the loop stops after the step at hand.  A signal
 * ignored when the program started (nohup) stays ignored.  The handler
 * resets itself: a second Ctrl-C ends the program at once (a checkpoint
 * being written is written to a temporary and renamed, so the file on
 * disk is then the previous one, whole). */
void nnrt_stop_catch(void);
void nnrt_stop_release(void);
int nnrt_stop_signal(void);
const char *nnrt_stop_signame(int sig);   /* "SIGINT", "SIGTERM" */
/* Where an interrupt and --save-every write: save (--save, else the train
 * block's checkpoint), or MODEL.interrupted.safetensors in the current
 * directory.  Allocated (free it); NULL when out of memory. */
char *nnrt_stop_path(const char *save, const char *model);
/* "nothing left to train: FILE is at epoch E and the run is N epochs
 * long; to train more, give --epochs M with M > E" */
void nnrt_stop_nothing_left(FILE *out, const char *path, int epoch, int epochs);
/* Exit status of a run stopped by SIGINT or SIGTERM after its checkpoint
 * was written. */
#define NNRT_EXIT_INTERRUPTED 130

/* ===================================================================== *
 * Logs (log.c)                                                           *
 * ===================================================================== */
double nnrt_now(void);                 /* monotonic clock, seconds */
/* "| epoch E | iter I/N | time T.TTs | loss L.LLLL" [+ " | test loss .. | test acc .."]
 * test_loss NaN: no test figures; test_acc NaN: no accuracy.  Both lines
 * are flushed; 0, or -1 when out reports a write error (a full disk),
 * with errno as the failing write left it. */
int nnrt_log_progress(FILE *out, int epoch, long iter, long iters, double secs,
                      double loss, double test_loss, double test_acc);
/* The same with the validation figures before the test figures:
 * "... | loss L | val loss .. | val acc .. | test loss .. | test acc .."
 * (val_loss NaN: none; val_acc NaN: no accuracy). */
int nnrt_log_progress_val(FILE *out, int epoch, long iter, long iters, double secs,
                          double loss, double val_loss, double val_acc, double test_loss,
                          double test_acc);
/* "done: E epochs, S steps in T.TTs (U us a step) | loss L | acc A" [+ test
 * figures]; NaN omits.  E and S are where training stands (a resumed run
 * counts the loaded epochs and steps); T is this run's time and U = T over
 * run_steps, the steps this run took (left out when it took none). */
int nnrt_log_summary(FILE *out, int epochs, long steps, long run_steps, double secs,
                     double loss, double acc, double test_loss, double test_acc);
/* ... | acc A | val loss .. | val acc .. | test loss .. | test acc .. */
int nnrt_log_summary_val(FILE *out, int epochs, long steps, long run_steps, double secs,
                         double loss, double acc, double val_loss, double val_acc,
                         double test_loss, double test_acc);

/* The progress line on a terminal (nnrt_tick_*): when stdout is a terminal
 * (isatty) and not --quiet, one line redrawn in place with \r, at most
 * every NNRT_TICK_SECS, instead of the plain lines above:
 *     epoch 3/300 | step 5/10 | 41200 samples/s | loss 0.9123 | ETA 12s
 * (loss: the epoch's mean so far; samples/s and ETA: from this run's rows
 * and time).  An epoch's end draws the epoch's figures (with its
 * validation and test figures when evaluated) and ends the line with a
 * newline when a plain line would have been printed in that epoch
 * (log_every), when the sets were evaluated, and after the run's last
 * epoch; otherwise the next epoch redraws it.  Into a file or a pipe only
 * the plain lines appear. */
#define NNRT_TICK_SECS 0.1
typedef struct NnrtTick {
    int on;          /* drawing: out is a terminal and the run is not quiet */
    int open;        /* a line is on the screen without its newline */
    int width;       /* characters of the line drawn last */
    double last;     /* nnrt_now() when it was drawn; -1: never */
} NnrtTick;
typedef struct NnrtTickFigures {
    int epoch, epochs;          /* from 1 */
    long iter, iters;           /* steps of this epoch done, and its steps */
    double samples_per_s, loss; /* this run's pace; the epoch's mean loss so far */
    double val_loss, val_acc, test_loss, test_acc; /* NaN: left out */
    double eta;                 /* seconds left; NaN: unknown ("?") */
} NnrtTickFigures;
void nnrt_tick_init(NnrtTick *t, FILE *out, int quiet);
/* Redraws the line (end 0: only when NNRT_TICK_SECS have passed since the
 * last drawing; end 1: always, then a newline).  0, or -1 on a write error. */
int nnrt_tick_draw(NnrtTick *t, FILE *out, const NnrtTickFigures *f, int end);
/* Ends an open line with a newline, before other output (a message, the
 * summary, an error on the same terminal). */
void nnrt_tick_break(NnrtTick *t, FILE *out);
/* 0, or -1 with "cannot write WHAT: REASON" in err when f's writes failed
 * (flushes f first). */
int nnrt_write_check(FILE *f, const char *what, char *err, size_t errlen);
/* "cannot write WHAT: strerror(errnum)" (errnum 0: the cause is unknown)
 * in err; returns -1.  For a write that just failed, with its errno. */
int nnrt_write_error(const char *what, int errnum, char *err, size_t errlen);

/* CSV log: "epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc", a
 * row per epoch (the validation figures last, empty without validation), NaN
 * written as an empty field.  Each row is flushed as it is written, so the
 * file is current if the run is stopped and a full disk shows at once. */
typedef struct NnrtCsvLog {
    FILE *f;
    const char *path;
} NnrtCsvLog;
int nnrt_csvlog_open(NnrtCsvLog *log, const char *path, char *err, size_t errlen);
/* With --load: an existing log at path keeps its header and its rows of
 * epochs 1..epoch (the checkpoint's), later rows are cut, and the run's
 * rows follow; a file that does not start with the header (or none) is
 * written afresh as nnrt_csvlog_open does.  hist (NULL: none) receives
 * the kept rows' figures, so that --plot after --load draws the whole run. */
typedef struct NnrtHistory NnrtHistory;
int nnrt_csvlog_resume(NnrtCsvLog *log, const char *path, long epoch, NnrtHistory *hist, char *err,
                       size_t errlen);
int nnrt_csvlog_row(NnrtCsvLog *log, int epoch, double loss, double acc,
                    double test_loss, double test_acc, double lr, char *err, size_t errlen);
/* The same with val_loss and val_acc (nnrt_csvlog_row writes them empty). */
int nnrt_csvlog_row_val(NnrtCsvLog *log, int epoch, double loss, double acc, double test_loss,
                        double test_acc, double lr, double val_loss, double val_acc, char *err,
                        size_t errlen);
int nnrt_csvlog_close(NnrtCsvLog *log, char *err, size_t errlen);

/* ===================================================================== *
 * Plots (plot.c): --plot FILE.svg                                        *
 * ===================================================================== */
/* One epoch's figures; NaN where there is none (no test set, not
 * evaluated this epoch, no accuracy). */
typedef struct NnrtFigures {
    int epoch;                  /* from 1 */
    double loss, acc;           /* the epoch's mean training loss; training accuracy after it */
    double test_loss, test_acc; /* the test set's, at an evaluation */
    double val_loss, val_acc;   /* a validation split's */
} NnrtFigures;

/* The figures of every epoch of a run, room for cap made before the
 * loop (nnrt_history_init: 0, or -1 with one line in err); add copies one
 * in (nothing when full). */
struct NnrtHistory {
    NnrtFigures *rows;
    size_t n, cap;
    int has_acc;                /* the model reports an accuracy: a second panel */
};
int nnrt_history_init(NnrtHistory *h, size_t cap, int has_acc, char *err, size_t errlen);
void nnrt_history_add(NnrtHistory *h, const NnrtFigures *f);
void nnrt_history_free(NnrtHistory *h);

/* An SVG chart of h: a loss panel (train, test, val) and, when has_acc,
 * an accuracy panel beside it, each with round-number ticks, axis titles
 * and a legend of the series present, under title (the model's name).
 * Non-finite figures are skipped; an empty history gives empty panels.
 * Written as PATH.tmp, renamed to PATH when every write, the flush and
 * the close succeeded (the temporary is removed otherwise): 0, or -1
 * with "cannot write plot PATH: REASON" in err. */
int nnrt_plot_svg(const char *path, const char *title, const NnrtHistory *h, char *err,
                  size_t errlen);

/* A file that appears whole or not at all (outfile.c), for checkpoints,
 * charts and predictions: open, write to f, then commit (flush, fsync,
 * rename over path) or discard.  Until the commit the data is in an
 * unnamed file (O_TMPFILE) or, where the system has none, in PATH.tmp.
 * Errors: "cannot write WHAT PATH.tmp: ..." when the file cannot be made,
 * "cannot write WHAT PATH: ..." when a write, the flush or the rename
 * fails; after a failed commit nothing is left behind. */
typedef struct NnrtOutFile {
    FILE *f;
    const char *path, *what;
    char *tmp;              /* PATH.tmp */
    int fd, unnamed;
} NnrtOutFile;
int nnrt_out_open(NnrtOutFile *o, const char *path, const char *what, char *err, size_t errlen);
int nnrt_out_commit(NnrtOutFile *o, char *err, size_t errlen);
void nnrt_out_discard(NnrtOutFile *o);

/* Formats one line into err (truncated to errlen) and returns -1. */
int nnrt_errf(char *err, size_t errlen, const char *fmt, ...) NNRT_PRINTF(3, 4);

/* ===================================================================== *
 * Checkpoints (safetensors.c)                                            *
 *   8 bytes   little-endian u64: header length H (a multiple of 8)       *
 *   H bytes   JSON: {"__metadata__":{"model":M,"epoch":"E","step":"S",   *
 *             ...what prediction needs, below...},                       *
 *             "W1":{"dtype":"F32","shape":[2,10],"data_offsets":[0,80]}, *
 *             ...} padded with spaces                                    *
 *   data      every tensor's f32 values, little-endian, in header order  *
 * Keys: params by name, then state by its (full) name: running          *
 * statistics (h.mean, h.var), then optimizer state (opt.W1.m).           *
 *                                                                        *
 * __metadata__ maps strings to strings (the format allows nothing else). *
 * Besides model, epoch and step (whole numbers; and "batch", the batches *
 * done of the next epoch, in a checkpoint written when a run was         *
 * interrupted mid-epoch: absent, i.e. 0, at an epoch boundary; --load    *
 * goes on at that epoch's next batch), a trainer's checkpoint            *
 * keeps the input transforms its training set had, so that --predict     *
 * needs no training data:                                                *
 *   "scale"       the factor inputs are multiplied by, "%.9g"            *
 *   "normalize"   "none", "all" (one mean and std over every input       *
 *                 value) or "column" (a mean and std per input column)   *
 *   "mean","std"  normalize "all" only: "%.9g" each, std > 0             *
 *   "col_mean","col_std"  normalize "column" only: in_dim numbers each,  *
 *                 "%.9g" (round-trips a float) joined by ",", std > 0    *
 *   "class_names" where the training labels were strings: the name of    *
 *                 each class id in order, as the text of a JSON array of *
 *                 strings (["cat","dog, \"big\""]), so any UTF-8 name    *
 *                 survives, commas and quotes included (not NUL)         *
 * scale and normalize come together or not at all (a checkpoint from     *
 * before they were kept has neither: it still loads, and --predict falls *
 * back to the train block's scale, or stops when the model normalizes).  *
 * Numbers are decimal (strtod over the whole value, no hex, inf or nan), *
 * finite, and a key that does not go with the normalize mode is refused. *
 * ===================================================================== */

/* The figures of the checkpoint's __metadata__ beyond model, epoch and
 * step.  For nnrt_ckpt_save the arrays are only read (they may point into
 * an NnrtData: nnrt_ckpt_meta_of); after nnrt_ckpt_load they are owned by
 * the struct, freed by nnrt_ckpt_meta_free. */
typedef struct NnrtCkptMeta {
    /* set by the caller of a load (the model's), checked against the file */
    size_t in_dim;            /* the input width: the length of col_mean and col_std (> 0) */
    size_t max_classes;       /* class_names may have at most this many (0: 2^24) */
    /* the figures */
    int has_inputs;           /* scale and normalize are (to be) in the file */
    float scale;              /* != 0 */
    int normalize;            /* NNRT_NORM_* */
    float mean, std;          /* NNRT_NORM_ALL */
    float *col_mean, *col_std;/* NNRT_NORM_COLUMN: in_dim values each */
    char **class_names;       /* names by class id (UTF-8, distinct), or NULL */
    size_t n_class_names;
    /* where training stands inside an epoch (stop.c) */
    long batch;               /* batches done of epoch `epoch`+1; 0 at an epoch boundary */
} NnrtCkptMeta;

/* meta's figures from a loaded training set: its scale, normalize mode and
 * figures, class names (pointers into d, nothing copied). */
void nnrt_ckpt_meta_of(const NnrtData *d, NnrtCkptMeta *meta);
/* meta zeroed, with the model's input width and the most class names its
 * predictions can take (argmax: the class count; threshold: 2; else no
 * limit), ready for nnrt_ckpt_load. */
void nnrt_ckpt_meta_want(const NnrtModel *m, NnrtCkptMeta *meta);
void nnrt_ckpt_meta_free(NnrtCkptMeta *meta);

/* Writes PATH.tmp and renames it to PATH: a crash never leaves a torn file.
 * meta NULL, or has_inputs 0 and no class names: only model, epoch, step. */
int nnrt_ckpt_save(const char *path, const char *model, long epoch, long step,
                   const NnrtCkptMeta *meta, const NnrtTensor *params, int n_params,
                   const NnrtTensor *state, int n_state, char *err, size_t errlen);
/* Checks the whole file as the format's reference reader does (header
 * length within the file and 100 MB; UTF-8 JSON, one object, nothing after
 * it but spaces; each entry exactly dtype, shape, data_offsets, the bytes
 * matching the shape; taken by offset, the tensors tile the data from 0 to
 * the file's end; no name or __metadata__ twice) and each tensor aligned
 * to its element size; then the model name, the metadata above (always,
 * whether meta is NULL or not: with meta NULL col_mean and col_std need
 * only agree with each other) and every model tensor (present, F32, same
 * shape; other tensors are ignored), then copies all of them in; on any
 * error nothing is changed.  epoch/step/meta may be NULL; a meta whose
 * load failed holds nothing to free. */
int nnrt_ckpt_load(const char *path, const char *model, long *epoch, long *step,
                   NnrtCkptMeta *meta, NnrtTensor *params, int n_params,
                   NnrtTensor *state, int n_state, char *err, size_t errlen);
/* The params alone, from any safetensors file whose tensors carry their
 * names and shapes (--init-from; PyTorch's safetensors.torch.save_file
 * writes such files): the file is checked whole as above, but no model
 * name, epoch or __metadata__ is asked for.  Each param must be there
 * under its name, with its shape, as F32, or as F64, F16 or BF16,
 * converted to f32 (round to nearest; an F64 value past f32's range is
 * refused); a missing param, another shape (its transpose gets a hint)
 * or another dtype is one error naming the param and both shapes or the
 * dtype.  Then all of them are copied in; on any error nothing is
 * changed.  Tensors that are not params (optimizer state, a PyTorch
 * model's buffers) are left alone and named in note, one line (the first
 * 10 names with their shapes, then "and N more"; "" when there are none;
 * note may be NULL). */
int nnrt_ckpt_load_params(const char *path, NnrtTensor *params, int n_params, char *note,
                          size_t notelen, char *err, size_t errlen);
/* --init-from FILE for a run (and for predicting): m's params from FILE by
 * nnrt_ckpt_load_params, its note printed to warn (NULL: not printed) as
 * "nnrt: warning: ...".  Optimizer state, running statistics (they are not
 * params: a batchnorm's start at mean 0, var 1 and training estimates
 * them again), epoch and step are untouched: call it after init(seed), so
 * the optimizer starts fresh. */
int nnrt_init_from(const NnrtModel *m, const char *path, FILE *warn, char *err, size_t errlen);

/* ===================================================================== *
 * Prediction (predict.c)                                                 *
 * ===================================================================== */
/* --predict a->predict [--out a->out]: params, running statistics and
 * figures from --load (a->load) or params alone from --init-from
 * (a->init_from: the train block's scale; refused when the model
 * normalizes, or has running statistics, which --init-from does not
 * give), the rows of the file
 * (IDX images, or CSV of in_dim fields or in_dim and the label), one CSV
 * line of outputs (and class) a row after a header; docs/language.md
 * gives the format.  Nothing is trained and no data source is read.
 * Returns the exit status: 0, or 1 after one line on err (a checkpoint,
 * input or output error). */
int nnrt_predict(NnrtModel *m, const NnrtArgs *a, FILE *out, FILE *err);

#endif /* NNRT_H */
