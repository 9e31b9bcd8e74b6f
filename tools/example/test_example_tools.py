"""Self-checks for the example tools:  cd tools/example && /usr/bin/python3 -m unittest test_example_tools -v"""
import unittest

import numpy as np
import torch

import shapes_dataset as ds
from evaluate_example import average_precision
from train_example import build_model


class DatasetTests(unittest.TestCase):
    def test_same_seed_and_index_give_the_same_sample(self):
        a = ds.make_sample(7, 3)
        b = ds.make_sample(7, 3)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)

    def test_different_seeds_differ(self):
        self.assertFalse(np.array_equal(ds.make_sample(7, 3)[0], ds.make_sample(8, 3)[0]))

    def test_boxes_are_valid_and_labels_are_one_based(self):
        for i in range(30):
            img, boxes, labels = ds.make_sample(5, i)
            self.assertEqual(img.shape, (300, 300, 3))
            self.assertEqual(img.dtype, np.uint8)
            self.assertTrue(1 <= len(boxes) <= 4)
            self.assertTrue(np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1]))
            self.assertTrue(np.all(boxes >= 0) and np.all(boxes <= 300))
            sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            self.assertTrue(np.all(sides >= ds.MIN_OBJECT - 1) and np.all(sides <= ds.MAX_OBJECT + 1))
            self.assertTrue(np.all((labels >= 1) & (labels <= len(ds.CLASSES))))


class ModelLayoutTests(unittest.TestCase):
    def test_state_dict_keys_match_torchvision_ssd300_vgg16(self):
        from torchvision.models.detection import ssd300_vgg16
        ref = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=5).state_dict()
        small = build_model(5, 8).state_dict()
        self.assertEqual(list(ref), list(small))
        for k in ref:
            self.assertEqual(ref[k].dim(), small[k].dim(), k)
            if ref[k].dim() == 4:  # same kernel sizes, only the channel counts shrink
                self.assertEqual(ref[k].shape[2:], small[k].shape[2:], k)
        self.assertEqual(small["backbone.features.0.weight"].shape, (8, 3, 3, 3))
        self.assertEqual(small["backbone.scale_weight"].shape, (64,))
        self.assertEqual(small["backbone.extra.0.7.1.weight"].shape, (128, 64, 3, 3))  # fc6

    def test_feature_maps_have_ssd300_sizes(self):
        torch.set_num_threads(1)
        model = build_model(5, 8).eval()
        with torch.no_grad():
            feats = model.backbone(torch.zeros(1, 3, 300, 300))
        self.assertEqual([f.shape[-1] for f in feats.values()], [38, 19, 10, 5, 3, 1])
        self.assertEqual([f.shape[1] for f in feats.values()], [64, 128, 64, 32, 32, 32])


class AveragePrecisionTests(unittest.TestCase):
    gt = {0: np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), 1: np.array([[0, 0, 10, 10]], float)}

    def test_perfect_detections_give_one(self):
        dets = [(0, 0.9, [0, 0, 10, 10]), (0, 0.8, [20, 20, 30, 30]), (1, 0.7, [0, 0, 10, 10])]
        self.assertAlmostEqual(average_precision(dets, self.gt)[0], 1.0)

    def test_duplicate_and_false_positive_ranked_first(self):
        # Ranking: FP, TP, duplicate(FP), TP, TP -> precision at recall 1/3, 2/3, 1 is 1/2, 1/2, 3/5.
        dets = [(1, 0.99, [50, 50, 60, 60]), (0, 0.9, [0, 0, 10, 10]), (0, 0.85, [0, 0, 10, 10]),
                (0, 0.8, [20, 20, 30, 30]), (1, 0.7, [0, 0, 10, 10])]
        # Envelope: max precision at recall >= r: 3/5 for every step -> AP = 3/5.
        self.assertAlmostEqual(average_precision(dets, self.gt)[0], 0.6)

    def test_low_iou_is_a_miss(self):
        dets = [(0, 0.9, [5, 5, 15, 15])]  # IoU 25/175 with the first box
        self.assertAlmostEqual(average_precision(dets, self.gt)[0], 0.0)


if __name__ == "__main__":
    unittest.main()
