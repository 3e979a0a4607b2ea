"""The body of each Ray Train worker: build the model under MultiWorkerMirroredStrategy and fit.

Every epoch each worker reports its metrics to Ray Train; rank 0 also saves the model
as the epoch's checkpoint, and Ray Train keeps the best by `val_loss`. The learning
rate follows ReduceLROnPlateau(0.1, 5) or a cosine decay with linear warm-up; training
stops early after `patience` epochs without a better `val_loss`.

The workers' own output stays in Ray's session logs. What the user should see (each
worker's share of the data, the epoch a resumed run continues from, and one line per
epoch) travels to the driver through a Ray queue (`TrainingMessages`), where the job
logs it and writes `history.json`.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time

import numpy as np

from schemas.vocabulary import LrSchedule

log = logging.getLogger(f"facelake.{__name__}")


def _materialize(shard, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    from etl.train.input import base_size, decode_faces

    images, labels = [], []
    for batch in shard.iter_batches(batch_size=512, batch_format="numpy"):
        images.append(decode_faces(list(batch["aligned"]), base_size(input_size)))
        labels.append(batch["target"].astype(np.int32))
    if not images:
        return np.empty((0, base_size(input_size), base_size(input_size), 3), np.uint8), np.empty(0, np.int32)
    return np.concatenate(images), np.concatenate(labels)


def cosine_with_warmup(epoch: int, *, base_lr: float, epochs: int, warmup: int) -> float:
    if epoch < warmup:
        return base_lr * (epoch + 1) / warmup
    progress = (epoch - warmup) / max(1, epochs - warmup)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_loop_per_worker(config: dict) -> None:
    from etl.train.model import build_model, keras_module

    keras = keras_module()
    import ray.train
    import tensorflow as tf

    from etl.train.input import make_dataset

    context = ray.train.get_context()
    rank, workers = context.get_world_rank(), context.get_world_size()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    x_train, y_train = _materialize(ray.train.get_dataset_shard("train"), config["input_size"])
    x_val, y_val = _materialize(ray.train.get_dataset_shard("validation"), config["input_size"])
    messages = config.get("messages")
    send(
        messages,
        {
            "kind": "shard",
            "rank": rank,
            "workers": workers,
            "train": len(x_train),
            "spoof": int(y_train.sum()),
            "validation": len(x_val),
        },
    )
    # JSON round trips turn the class keys into strings
    class_weight = {int(c): float(w) for c, w in config["class_weight"].items()} if config.get("class_weight") else None
    per_worker_batch = max(1, config["batch_size"] // workers)
    # every worker must run the same number of steps: both come from the driver's totals
    steps = max(1, math.ceil(config["n_train"] / config["batch_size"]))
    val_steps = max(1, math.ceil(len(x_val) / per_worker_batch))
    # Keras would take a plain dataset's batch for the *global* batch and hand each worker only
    # its 1/workers slice of every batch; datasets built per replica are used as they are
    train_ds = strategy.distribute_datasets_from_function(
        lambda _context: make_dataset(
            x_train,
            y_train,
            input_size=config["input_size"],
            batch_size=per_worker_batch,
            training=True,
            seed=config["seed"] + rank,
            repeat=True,
            class_weight=class_weight,
        )
    )
    val_ds = strategy.distribute_datasets_from_function(
        lambda _context: make_dataset(
            x_val, y_val, input_size=config["input_size"], batch_size=per_worker_batch, training=False, repeat=True
        )
    )
    with strategy.scope():
        model = build_model(backbone=config["backbone"], input_size=config["input_size"], seed=config["seed"])
        model.compile(
            optimizer=keras.optimizers.Adam(config["learning_rate"]),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.get("label_smoothing", 0.0)),
            metrics=["accuracy"],
        )
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=config["patience"])]
    if config["lr_schedule"] == LrSchedule.COSINE:
        callbacks.append(
            keras.callbacks.LearningRateScheduler(
                lambda epoch: cosine_with_warmup(
                    epoch, base_lr=config["learning_rate"], epochs=config["epochs"], warmup=config["warmup_epochs"]
                )
            )
        )
    else:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=5))
    callbacks.append(_ReportEachEpoch(rank, messages))
    initial_epoch = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:  # --resume: continue from the last reported epoch
        with checkpoint.as_directory() as folder:
            model.load_weights(os.path.join(folder, "weights.h5"))
            initial_epoch = int(open(os.path.join(folder, "epoch.txt")).read()) + 1
        if rank == 0:
            send(messages, {"kind": "resume", "epoch": initial_epoch})
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config["epochs"],
        steps_per_epoch=steps,
        validation_steps=val_steps,
        callbacks=callbacks,
        verbose=0,
        initial_epoch=initial_epoch,
    )


def send(messages, message: dict) -> None:
    """Put a message for the driver on its queue (None: nobody listens)."""
    if messages is not None:
        messages.put(message)


def append_history(path: str, metrics: dict) -> None:
    """history.json: one list per metric, an entry per epoch (resumed runs continue it)."""
    import json

    history = json.loads(open(path).read()) if os.path.isfile(path) else {}
    epochs = history.get("epoch", [])
    if metrics["epoch"] in epochs:  # a resumed run redoing an epoch: keep the new values
        keep = epochs.index(metrics["epoch"])
        history = {k: v[:keep] for k, v in history.items()}
    for key, value in metrics.items():
        history.setdefault(key, []).append(value)
    with open(path, "w") as handle:
        json.dump(history, handle, indent=1)


class _ReportEachEpoch:
    """A Keras callback (built lazily so tf_keras is imported only in workers)."""

    def __new__(cls, rank: int, messages):
        from etl.train.model import keras_module

        keras = keras_module()
        import ray.train

        class Report(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.epoch_started, self.training_ended = time.perf_counter(), None

            def on_test_begin(self, logs=None):  # validation follows the epoch's training steps
                self.training_ended = self.training_ended or time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                ended = time.perf_counter()
                metrics = {k: float(v) for k, v in (logs or {}).items()}
                metrics["epoch"] = epoch
                # wall time of this worker's training steps (without validation) and of the whole epoch
                metrics["train_seconds"] = (self.training_ended or ended) - self.epoch_started
                metrics["epoch_seconds"] = ended - self.epoch_started
                metrics["lr"] = float(keras.backend.get_value(self.model.optimizer.learning_rate))
                with tempfile.TemporaryDirectory() as folder:
                    # every worker saves: saving reads mirrored variables through collective
                    # ops that all workers must join (rank 0 alone would deadlock)
                    self.model.save(os.path.join(folder, "model.keras"))
                    self.model.save_weights(os.path.join(folder, "weights.h5"))
                    with open(os.path.join(folder, "epoch.txt"), "w") as handle:
                        handle.write(str(epoch))
                    checkpoint = ray.train.Checkpoint.from_directory(folder) if rank == 0 else None
                    ray.train.report(metrics, checkpoint=checkpoint)
                if rank == 0:  # the metrics are all-reduced: every worker's are the same
                    send(messages, {"kind": "epoch", "metrics": metrics})

        return Report()


def epoch_line(label: str, metrics: dict, epochs: int) -> str:
    """`P1: epoch 3/10: loss 0.4123 accuracy 0.8012 val_loss 0.5 val_accuracy 0.75 lr 0.001 12.3 s`."""
    parts = [f"{label}: epoch {int(metrics['epoch']) + 1}/{epochs}:"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in metrics:
            parts.append(f"{key} {metrics[key]:.4f}")
    if "lr" in metrics:
        parts.append(f"lr {metrics['lr']:.3g}")
    if "epoch_seconds" in metrics:
        parts.append(f"{metrics['epoch_seconds']:.1f} s")
    return " ".join(parts)


def shard_line(label: str, shards: list[dict]) -> str:
    workers = ", ".join(
        f"worker {s['rank']}/{s['workers']}: {s['train']} training faces ({s['spoof']} spoof)"
        for s in sorted(shards, key=lambda s: s["rank"])
    )
    return f"{label}: {workers}; {shards[0]['validation']} validation faces each"


class TrainingMessages:
    """The driver's end of the workers' queue: logs their messages as they arrive and
    writes each epoch's metrics into `history_path`.

        with TrainingMessages(label="P1", epochs=10, workers=2, history_path=path, log=log) as messages:
            TensorflowTrainer(..., train_loop_config={..., "messages": messages.queue}).fit()
    """

    POLL_SECONDS = 0.5

    def __init__(self, *, label: str, epochs: int, workers: int, history_path: str, log: logging.Logger) -> None:
        from ray.util.queue import Queue

        # no CPU slot of its own: the training workers and Ray Data need them all
        self.queue = Queue(actor_options={"num_cpus": 0})
        self.label, self.epochs, self.workers = label, epochs, workers
        self.history_path, self.log = history_path, log
        self.shards: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="training-messages", daemon=True)

    def __enter__(self) -> TrainingMessages:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()  # what arrived between the last poll and the end of fit
        self.queue.shutdown()

    def _listen(self) -> None:
        from ray.util.queue import Empty

        while not self._stop.is_set():
            try:
                self.handle(self.queue.get(timeout=self.POLL_SECONDS))
            except Empty:
                continue
            except Exception as error:  # noqa: BLE001 - a lost message must never stop training
                self.log.debug("training messages: %s", error)
                return

    def _drain(self) -> None:
        from ray.util.queue import Empty

        while True:
            try:
                self.handle(self.queue.get_nowait())
            except Empty:
                return
            except Exception as error:  # noqa: BLE001 - the queue's actor may be gone already
                self.log.debug("training messages: %s", error)
                return

    def handle(self, message: dict) -> None:
        kind = message.get("kind")
        if kind == "shard":
            self.shards.append(message)
            if len(self.shards) == self.workers:
                self.log.info("%s", shard_line(self.label, self.shards))
        elif kind == "resume":
            self.log.info("%s: resuming from the checkpoint of epoch %d/%d", self.label, message["epoch"], self.epochs)
        elif kind == "epoch":
            metrics = message["metrics"]
            append_history(self.history_path, metrics)
            self.log.info("%s", epoch_line(self.label, metrics, self.epochs))
