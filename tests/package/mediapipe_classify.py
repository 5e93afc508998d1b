"""Classify images with MediaPipe Tasks' ImageClassifier; run inside the mediapipe environment.

``python mediapipe_classify.py MODEL.tflite IMAGE...`` prints, per image, MediaPipe's categories
(index, name from the model's metadata, score) as JSON. Nothing here comes from edgesub.
"""

import json
import sys

import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision


def main() -> None:
    model, images = sys.argv[1], sys.argv[2:]
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=model), max_results=3
    )
    results = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for path in images:
            result = classifier.classify(mp.Image.create_from_file(path))
            categories = result.classifications[0].categories
            results.append(
                [
                    {"index": c.index, "category_name": c.category_name, "score": c.score}
                    for c in categories
                ]
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
