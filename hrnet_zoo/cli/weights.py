"""``hrnet-zoo download`` and ``hrnet-zoo convert``: get verified weights, write hrnet_zoo's Hub format."""
from __future__ import annotations

import argparse
from pathlib import Path

from hrnet_zoo.cli import CommandError, UsageError
from hrnet_zoo.cli.models import resolve_model_name


def _cmd_download(args: argparse.Namespace) -> int:
    from hrnet_zoo.weights.convert import CheckpointError
    from hrnet_zoo.weights.hub import PretrainedWeightsError
    from hrnet_zoo.weights.manifest import UnknownWeightsError, source_label
    from hrnet_zoo.weights.pretrained import prepare_weights

    name = resolve_model_name(args.model)
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


def _cmd_convert(args: argparse.Namespace) -> int:
    """Any supported checkpoint layout → ``config.json`` + ``model.safetensors`` (ready for ``hf upload``)."""
    from hrnet_zoo import create_model
    from hrnet_zoo.weights.convert import CheckpointError, load_checkpoint, read_state_dict
    from hrnet_zoo.weights.pretrained import only_prediction_layer_differs

    name = resolve_model_name(args.model)
    if not Path(args.src).is_file():
        raise UsageError(f"checkpoint file not found: {args.src}")
    kwargs = {k: v for k, v in (("num_joints", args.num_joints), ("num_classes", args.num_classes)) if v}
    try:
        state_dict = read_state_dict(args.src)
        model = create_model(name, **kwargs)
        result = load_checkpoint(model, state_dict, strict=False)
        if not kwargs and only_prediction_layer_differs(model, result):
            # e.g. an MPII checkpoint (16 joints): rebuild with the checkpoint's output size.
            key, ckpt_shape, _ = result.shape_mismatches[0]
            count = "num_joints" if hasattr(model, "num_joints") else "num_classes"
            model = create_model(name, **{count: ckpt_shape[0]})
            print(f"{count}={ckpt_shape[0]} (from {key} in the checkpoint)")
        result = load_checkpoint(model, state_dict, strict=True)
    except CheckpointError as e:
        raise CommandError(str(e)) from None
    model.save_pretrained(args.out)
    print(f"{args.src} ({result.layout} layout) → {name}")
    print(f"wrote {Path(args.out) / 'config.json'} and {Path(args.out) / 'model.safetensors'}")
    print(f"upload with: hf upload <org>/<repo> {args.out}   (load with hrnet_zoo.from_pretrained)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("download", help="download, verify and convert a model's pretrained weights")
    p.add_argument("model", help="model name or alias (w32 → hrnet_w32)")
    p.add_argument("--tag", help="weights tag from `hrnet-zoo info MODEL` (default: the model's default weights)")
    p.set_defaults(func=_cmd_download)

    p = subparsers.add_parser("convert", help="convert a checkpoint of any supported layout to hrnet_zoo's Hub format")
    p.add_argument("src", help="checkpoint file (.pth/.pt/.bin/.safetensors)")
    p.add_argument("--model", required=True, help="model name or alias the checkpoint belongs to")
    p.add_argument("--out", required=True, help="output folder (config.json + model.safetensors)")
    p.add_argument("--num-joints", type=int, help="keypoints of the checkpoint (default: read from it)")
    p.add_argument("--num-classes", type=int, help="classes of the checkpoint (default: read from it)")
    p.set_defaults(func=_cmd_convert)
