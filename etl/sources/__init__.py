"""What the user hands facelake: SiW trees of `.mov` + `.face` files and photo trees, local or on a store.

`siw_names` parses SiW's file names, `face_file` the per-frame `.face` boxes, `decode` reads
frames out of videos, `siw_tree` and `photo_tree` scan a source into sources to process (with
their fingerprints; `source_item` is what a video and a photo share), `files` lists and copies
files on a local folder or an object store.

May import: `etl.lake.storage` (filesystems and credentials), `schemas`, `etl.errors`, `etl.config`.
Never writes to the lake and never edits a source file.
"""
