"""The ML library: MNIST data, image normalisation, deskewing, the SVM and its fast predictor.

No web, queue or Redis code lives here: everything is functions and small classes on arrays,
testable in-process.
"""
