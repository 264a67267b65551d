"""``hrnet-zoo download`` and ``hrnet-zoo convert``: get verified weights, write hrnet_zoo's Hub format."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from hrnet_zoo.cli import CommandError, UsageError, add_output_options, refuse_overwrite
from hrnet_zoo.cli.models import resolve_model_name


class _RenamedOption(argparse.Action):
    """A hidden 0.2 spelling of an option: sets the new option's value and warns on stderr."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"warning: {option_string} is deprecated and will be removed in 0.4; use {self.metavar}",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_num_keypoints_option(p: argparse.ArgumentParser, help_text: str, **kwargs) -> None:
    """``--num-keypoints`` (into ``args.num_keypoints``), and 0.2's ``--num-joints`` as a hidden alias that warns."""
    p.add_argument("--num-keypoints", help=help_text, **kwargs)
    p.add_argument("--num-joints", dest="num_keypoints", action=_RenamedOption, metavar="--num-keypoints",
                   help=argparse.SUPPRESS, **kwargs)


def _cmd_download(args: argparse.Namespace) -> int:
    from hrnet_zoo.weights.convert import CheckpointError
    from hrnet_zoo.weights.hub import PretrainedWeightsError
    from hrnet_zoo.weights.manifest import UnknownWeightsError, source_label, weights_for
    from hrnet_zoo.weights.pretrained import prepare_weights

    name = resolve_model_name(args.model)
    if not weights_for(name):  # the library's message advises pretrained=False: Python, not shell
        raise UsageError(f"{name} has no published weights; `hrnet-zoo list --pretrained` lists the models that "
                         f"have, and `hrnet-zoo convert FILE --model {name} --output DIR` converts a checkpoint "
                         "of your own")
    try:
        info = prepare_weights(name, args.tag or True)
    except UnknownWeightsError as e:  # bad input, like an unknown model: exit 2, the tags that exist
        raise UsageError(str(e)) from None
    except (PretrainedWeightsError, CheckpointError) as e:
        raise CommandError(str(e)) from None
    entry = info["entry"]
    how = {"sha256": "pinned in weights_manifest.json", "hub-lfs-sha256": "the Hub's LFS sha256",
           "sha256-prefix": f"prefix {entry.get('sha256_prefix')} in the file name"}[entry["verify"]]
    print(f"{name} [{entry['tag']}] from {source_label(entry)}")
    print(f"path:      {info['path']}")
    print(f"sha256:    {info['sha256']} (verified against {how})")
    print(f"converted: {info['converted']}")
    return 0


def read_checkpoint_arg(path: str) -> dict:
    """The state dict of a checkpoint named on the command line; UsageError for a missing file or a
    folder, CommandError for a file that is not a (loadable) checkpoint."""
    from hrnet_zoo.weights.convert import CheckpointError, check_checkpoint_path, read_state_dict

    try:
        check_checkpoint_path(path)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    try:
        return read_state_dict(path)
    except CheckpointError as e:
        raise CommandError(str(e)) from None


def model_for_checkpoint(name: str, state_dict: dict, kwargs: dict):
    """``name`` built to fit ``state_dict`` and loaded strictly → (model, LoadResult).

    Without ``num_keypoints``/``num_classes`` in ``kwargs``, a checkpoint whose prediction layer alone
    differs in size (an MPII checkpoint's 16 joints, say) gets a head of its size (``reset_head`` /
    ``reset_classifier``, else a rebuild), and a line says so. Raises CheckpointError when it does not fit.
    """
    from hrnet_zoo import create_model
    from hrnet_zoo.weights.convert import load_checkpoint
    from hrnet_zoo.weights.pretrained import only_prediction_layer_differs

    model = create_model(name, **kwargs)
    trial = load_checkpoint(model, state_dict, strict=False)
    if not kwargs and only_prediction_layer_differs(model, trial):
        key, ckpt_shape, _ = trial.shape_mismatches[0]
        count = "num_keypoints" if hasattr(model, "num_keypoints") else "num_classes"
        if hasattr(model, "reset_head"):
            model.reset_head(ckpt_shape[0])
        elif hasattr(model, "reset_classifier"):
            model.reset_classifier(ckpt_shape[0])
        else:
            model = create_model(name, **{count: ckpt_shape[0]})
        print(f"{count}={ckpt_shape[0]} (from {key} in the checkpoint)")
    return model, load_checkpoint(model, state_dict, strict=True)


def _cmd_convert(args: argparse.Namespace) -> int:
    """Any supported checkpoint layout → ``config.json`` + ``model.safetensors`` (ready for ``hf upload``)."""
    from hrnet_zoo.weights.convert import CheckpointError

    name = resolve_model_name(args.model)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file; convert writes a folder (config.json + model.safetensors)")
    refuse_overwrite([output / f for f in WRITTEN_FILES], [args.src], args.force)
    state_dict = read_checkpoint_arg(args.src)
    kwargs = {k: v for k, v in (("num_keypoints", args.num_keypoints), ("num_classes", args.num_classes)) if v}
    try:
        model, result = model_for_checkpoint(name, state_dict, kwargs)
    except CheckpointError as e:
        raise CommandError(str(e)) from None
    _save_into(model, output)
    print(f"{args.src} ({result.layout} layout) → {name}")
    print(f"wrote {output / 'config.json'} and {output / 'model.safetensors'}")
    print(f"upload with: hf upload <org>/<repo> {output}   (load with hrnet_zoo.from_pretrained)")
    return 0


#: What save_pretrained writes (and a model card, README.md, which is kept if the folder has one).
WRITTEN_FILES = ("config.json", "model.safetensors")


def _save_into(model, output: Path) -> None:
    """save_pretrained into a temporary folder inside ``output``, then rename each file into place, so a
    failure leaves the old files (or none), never half-written ones."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output, prefix=".convert-") as tmp:
        model.save_pretrained(tmp)
        for name in WRITTEN_FILES:
            os.replace(Path(tmp) / name, output / name)
        if (Path(tmp) / "README.md").exists() and not (output / "README.md").exists():
            os.replace(Path(tmp) / "README.md", output / "README.md")


def register(subparsers) -> None:
    p = subparsers.add_parser("download", help="download, verify and convert a model's pretrained weights")
    p.add_argument("model", help="model name or alias (w32 → hrnet_w32)")
    p.add_argument("--tag", help="weights tag from `hrnet-zoo info MODEL` (default: the model's default weights)")
    p.set_defaults(func=_cmd_download)

    p = subparsers.add_parser("convert", help="convert a checkpoint of any supported layout to hrnet_zoo's Hub format")
    p.add_argument("src", help="checkpoint file (.pth/.pt/.bin/.safetensors)")
    p.add_argument("--model", required=True, help="model name or alias the checkpoint belongs to")
    add_output_options(p, "output folder (config.json + model.safetensors)")
    add_num_keypoints_option(p, "keypoints of the checkpoint (default: read from it)", type=int)
    p.add_argument("--num-classes", type=int, help="classes of the checkpoint (default: read from it)")
    p.set_defaults(func=_cmd_convert)
