"""One image in, one face out: detection, location in a video, alignment, sharpness and image encoding.

`detect` runs MTCNN (or a named fake); `locate` finds the face of a frame from its `.face`
region; `align` warps it onto the 112x112 template; `sharpness` scores it; `encode` turns
pixels into PNG/JPEG bytes and back; `tensorflow_threads` keeps TensorFlow to its share of cores.

May import: `etl.config`, `etl.errors`, `schemas`. Pure functions over arrays: no lake, no Ray.
"""
