"""The torchvision SSD300 peer the benchmarks compare against, shared by export_onnx.py and torch_ssd.py: the
generated acceptance checkpoint (tools/fixtures/make_torchvision_acceptance.py) loaded into torchvision's own
ssd300_vgg16, and its network part (backbone + heads) as a module from the transformed 300x300 batch to the raw
head outputs, exactly what SSD.forward runs between model.transform and postprocess_detections."""
import os

import torch
import torchvision

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURE = os.path.join(ROOT, "tests", "Ssd.Tests", "Fixtures", "generated", "torchvision_ssd300")
NUM_CLASSES = 91


def load_model(folder=FIXTURE):
    checkpoint = os.path.join(folder, "model.pth")
    if not os.path.exists(checkpoint):
        raise FileNotFoundError(f"{checkpoint} is missing: run /usr/bin/python3 tools/fixtures/make_torchvision_acceptance.py first")
    model = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None, num_classes=NUM_CLASSES)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    return model.eval()


class NetworkOnly(torch.nn.Module):
    """[N, 3, 300, 300] transformed input -> (bbox_regression [N, 8732, 4], cls_logits [N, 8732, 91])."""

    def __init__(self, model):
        super().__init__()
        self.backbone, self.head = model.backbone, model.head

    def forward(self, x):
        features = list(self.backbone(x).values())
        head = self.head(features)
        return head["bbox_regression"], head["cls_logits"]
