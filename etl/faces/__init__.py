"""One image in, one face out: detection, location in a video, alignment, sharpness and image encoding.

`detect` runs MTCNN (its cascade in `mtcnn_cascade`, its nets as ONNX graphs in `mtcnn_onnx`,
the package's own TensorFlow pipeline in `mtcnn_package` for baselines) or insightface's ONNX
detectors; `locate` finds the face of a frame from its `.face` region; `align` warps it onto
the 112x112 template; `sharpness` scores it; `encode` turns pixels into PNG/JPEG bytes and back;
`tensorflow_threads` keeps TensorFlow to its share of cores (the baseline pipeline, Keras embedders).

May import: `etl.config`, `etl.errors`, `schemas`. Pure functions over arrays: no lake, no Ray.
"""
