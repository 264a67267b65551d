"""``hrnet-zoo export``: write a model (optionally with a checkpoint) as ONNX or OpenVINO IR and check it against PyTorch."""
from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
from pathlib import Path

from hrnet_zoo.cli import CommandError, UsageError, add_output_options, refuse_overwrite
from hrnet_zoo.cli.weights import add_num_keypoints_option

FORMATS = ("onnx", "openvino")


def _optional_int(text: str | None, flag: str) -> int | None:
    """Parse an integer option here rather than in argparse, so a bad value is one error line."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"malformed {flag} {text!r}: expected an integer") from None


def _positive_int(text: str | None, flag: str) -> int | None:
    value = _optional_int(text, flag)
    if value is not None and value < 1:
        raise UsageError(f"{flag} must be a positive integer, got {value}")
    return value


def _saved_folder(path: str | None) -> Path | None:
    """The ``save_pretrained`` folder ``path`` names (the folder, or its ``model.safetensors``); None if it is none."""
    if path is None:
        return None
    given = Path(path)
    folder = given if given.is_dir() else given.parent if given.name == "model.safetensors" else None
    return folder if folder is not None and (folder / "config.json").is_file() else None


def _load_model(args: argparse.Namespace, kwargs: dict):
    """(model, name to print, the files it was read from): a registered name, optionally with a checkpoint
    file, or a ``save_pretrained`` folder (a trained run's ``best/``) as ``--model`` or ``--checkpoint``,
    which brings its own keypoint count and ``pretrained_cfg`` (input size, mean, std)."""
    from hrnet_zoo import create_model, from_pretrained
    from hrnet_zoo.cli.models import resolve_model_name
    from hrnet_zoo.cli.weights import model_for_checkpoint, read_checkpoint_arg
    from hrnet_zoo.errors import HRNetZooError

    model_folder, checkpoint_folder = Path(args.model) if os.path.isdir(args.model) else None, \
        _saved_folder(args.checkpoint)
    if model_folder is not None and _saved_folder(str(model_folder)) is None:
        raise UsageError(f"--model {args.model} is a folder without config.json: give a save_pretrained folder "
                         "(a run's best/ or last/) or a model name")
    folder = model_folder or checkpoint_folder
    if folder is not None and (kwargs or (model_folder and args.checkpoint)):
        raise UsageError(f"{folder} holds its own weights and keypoint count: leave out --checkpoint, "
                         "--num-keypoints and --num-classes")
    try:
        if model_folder is not None:
            model = from_pretrained(str(model_folder))
            return model, f"{model_folder} ({type(model).__name__})", _folder_files(model_folder)
        name = resolve_model_name(args.model)
        if checkpoint_folder is not None:
            return create_model(name, pretrained=str(checkpoint_folder)), name, _folder_files(checkpoint_folder)
        if args.checkpoint is None:
            return create_model(name, **kwargs), name, []
        state_dict = read_checkpoint_arg(args.checkpoint)
        return model_for_checkpoint(name, state_dict, kwargs)[0], name, [Path(args.checkpoint)]  # convert's num_keypoints detection
    except TypeError:
        if not kwargs:
            raise
        flags = ", ".join("--" + k.replace("_", "-") for k in kwargs)
        raise UsageError(f"{args.model} does not take {flags}") from None
    except HRNetZooError as e:
        raise UsageError(" ".join(str(e).split())) from None  # one line, however long the key listing


def _folder_files(folder: Path) -> list[Path]:
    return [folder / "config.json", folder / "model.safetensors"]


def _targets(output: Path, fmt: str) -> list[Path]:
    """The files an export writes: the .onnx file, or OpenVINO's .xml and .bin."""
    if fmt != "openvino":
        return [output]
    if output.suffix != ".xml":
        raise UsageError(f"--format openvino writes an IR pair: give --output NAME.xml (got {output.name})")
    return [output, output.with_suffix(".bin")]


def _write_openvino_ir(onnx_path: Path, xml: Path) -> list[Path]:
    import openvino as ov

    ov.save_model(ov.convert_model(str(onnx_path)), str(xml), compress_to_fp16=False)
    return [xml, xml.with_suffix(".bin")]


def _openvino_max_rel_error(xml: Path, model, x) -> float:
    import openvino as ov
    import torch

    from hrnet_zoo.export import flatten_outputs, max_relative_error

    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled(x.numpy())
    with torch.no_grad():
        ref = flatten_outputs(model(x))
    return max_relative_error([torch.from_numpy(got[i]) for i in range(len(ref))], ref)


def _cmd_export(args: argparse.Namespace) -> int:
    import torch

    from hrnet_zoo.cli.models import parse_input_size
    from hrnet_zoo.errors import InvalidArgumentError
    from hrnet_zoo.export import DEFAULT_OPSET, check_opset, onnx_max_rel_error

    if args.format not in FORMATS:
        raise UsageError(f"unsupported --format {args.format!r}: choose {', '.join(FORMATS)}")
    size = parse_input_size(args.input_size) if args.input_size else None  # None: the model's pretrained_cfg
    opset = _optional_int(args.opset, "--opset")
    opset = DEFAULT_OPSET if opset is None else opset
    try:
        check_opset(opset)
    except ValueError as e:
        raise UsageError(f"--{e}") from None
    output = Path(args.output)
    if not output.parent.is_dir():
        raise UsageError(f"output folder does not exist: {output.parent}")
    if output.is_dir():
        raise UsageError(f"--output {output} is a folder; give the file to write")
    if not os.access(output.parent, os.W_OK):
        raise UsageError(f"output folder {output.parent} is not writable: choose another --output")
    targets = _targets(output, args.format)
    options = {"num_classes": _positive_int(args.num_classes, "--num-classes"),
               "num_keypoints": _positive_int(args.num_keypoints, "--num-keypoints")}
    kwargs = {k: v for k, v in options.items() if v is not None}
    saved = [_saved_folder(p) for p in (args.model, args.checkpoint)]
    refuse_overwrite(targets, [args.checkpoint, *(str(f) for folder in saved if folder for f in _folder_files(folder))],
                     args.force)
    if args.format == "openvino" and importlib.util.find_spec("openvino") is None:
        raise UsageError('--format openvino needs the openvino package: pip install "hrnet-zoo[openvino]"')
    model, name, _ = _load_model(args, kwargs)
    model.eval()

    in_chans = 3
    size = size or tuple(model.pretrained_cfg.input_size)
    try:
        _write(model, targets, args, size, in_chans, opset)
    except InvalidArgumentError as e:
        raise UsageError(str(e)) from None
    except OSError as e:  # a read-only folder or file system, a full disk
        raise CommandError(f"cannot write {output} in {output.parent}: {e.strerror or e}") from None
    dims = "dynamic batch, H and W" if args.dynamic_hw else "dynamic batch"
    line = f"wrote {output}: {name}, input N×{in_chans}×{size[0]}×{size[1]} ({dims}), opset {opset}"
    x = torch.randn(2, in_chans, *size)  # batch 2 ≠ the traced batch 1: exercises the dynamic axis
    if args.no_verify:
        pass
    elif args.format == "openvino":
        line += f", OpenVINO max relative error {_openvino_max_rel_error(output, model, x):.1e}"
    elif importlib.util.find_spec("onnxruntime") is None:
        line += ", not verified (onnxruntime is not installed)"
    else:
        line += f", onnxruntime max relative error {onnx_max_rel_error(output, model, x):.1e}"
    print(line)
    return 0


def _write(model, targets: list[Path], args: argparse.Namespace, size, in_chans: int, opset: int) -> None:
    """Export into a temporary folder next to the output, then rename: a failed export leaves the old
    files (or none), never half a graph."""
    from hrnet_zoo.export import export_onnx

    output = targets[0]
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".hrnet_zoo_export_") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(model, onnx_path, input_size=size, in_chans=in_chans, opset=opset, fuse=not args.no_fuse,
                    dynamic_hw=args.dynamic_hw)
        written = [onnx_path] if args.format == "onnx" else _write_openvino_ir(onnx_path, Path(tmp) / "model.xml")
        for src, dst in zip(written, targets):  # whole files appear at once: a rename within the folder
            os.replace(src, dst)


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a model to ONNX or OpenVINO IR (dynamic batch axis)")
    p.add_argument("--model", required=True, help="model name or alias (w32 → hrnet_w32), or a save_pretrained "
                                                 "folder such as a trained run's best/")
    p.add_argument("--checkpoint", help="weights to load first (any layout load_checkpoint understands), or a "
                                        "save_pretrained folder: its pretrained_cfg then sets the input size")
    p.add_argument("--format", default="onnx", help="'onnx' (default) or 'openvino' (IR: NAME.xml + NAME.bin)")
    add_output_options(p, "file to write, e.g. hrnet_w32.onnx or hrnet_w32.xml")
    p.add_argument("--dynamic-hw", action="store_true", help="dynamic H and W as well as batch")
    p.add_argument("--input-size", help="HxW the graph is traced at; default: the model's pretrained_cfg "
                                        "input size (a saved folder's own; 256x192 for the COCO pose models)")
    p.add_argument("--opset", help="ONNX opset (default 17)")
    p.add_argument("--num-classes", help="classes of a classification / segmentation head")
    add_num_keypoints_option(p, "keypoints of a pose model")
    p.add_argument("--no-fuse", action="store_true", help="keep BatchNorm nodes (default: folded into convs)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime / OpenVINO comparison")
    p.set_defaults(func=_cmd_export)
