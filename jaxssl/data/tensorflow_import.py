"""TensorFlow for the host side (tf.data input, TensorBoard event files), imported without Keras, off GPUs.

`import tensorflow` (2.21) also imports Keras at once ("keras.src.optimizers", so that Keras's SavedModel
registrations happen at load time), and Keras pulls in scikit-learn, matplotlib's pyplot and IPython: with
them `import jaxssl.main` took 7.3 s on a 2-core CPU, 5.6 s without (scikit-learn now imported for t-SNE
only), for nothing jaxssl uses. TF wraps that import in `except ImportError`, so while TensorFlow is
imported here `keras` is marked absent in `sys.modules`; the mark is removed afterwards, and `import keras` or
`tf.keras` later in the process load Keras as usual. A process that imported TensorFlow or Keras before
jaxssl keeps them as they are.

TensorFlow is kept off the accelerators so that it never takes their memory from JAX.
"""

import sys


def import_tensorflow_without_keras():
    """The `tensorflow` module, imported with Keras's eager import skipped unless either is imported already."""
    skip_keras = "tensorflow" not in sys.modules and "keras" not in sys.modules
    if skip_keras:
        sys.modules["keras"] = None
    try:
        import tensorflow
    finally:
        if skip_keras:
            del sys.modules["keras"]
    return tensorflow


tf = import_tensorflow_without_keras()
tf.config.set_visible_devices([], "GPU")
