"""Reading what a command printed on stderr."""


def error_lines(err: str) -> list[str]:
    """The lines of ``err`` that are not the keypoint-set summary or a warning every evaluate, predict
    and train prints when it starts (issue 18: defaults that change results are shown)."""
    # split on newlines only: a progress bar redraws its line with carriage returns
    return [line for line in err.split("\n") if line and not line.startswith(("keypoints:", "warning:"))]
