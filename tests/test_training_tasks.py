"""training/tasks.py: each network overfits a fixed batch; recipes, the task registry, --init."""
import pytest
import torch
from rhd_tiny import rhd_root_fixture  # noqa: F401  (the rhd_root fixture)
from torch.utils.data import default_collate
from training_support import mean_hand

from handcam.errors import WeightsError
from training import tasks
from training.config import TrainConfig
from training.errors import TrainingError
from training.mixed import SegmentationFrames
from training.tasks import HandSegOptions, HandSegTask, LiftingTask, PoseNetOptions, PoseNetTask, lr_at


def _config(task, root, out, **changes):
    return TrainConfig.for_task(task, root, out, **changes)


# small crops keep the full-size networks affordable on a CPU; lifting needs its fixed 32x32 input
@pytest.mark.parametrize("task_cls,options,lr,steps", [
    (HandSegTask, HandSegOptions(crop_size=32), 3e-4, 6),
    (PoseNetTask, PoseNetOptions(crop_size=32, sigma=4), 3e-4, 6),
    (LiftingTask, None, 1e-3, 12),
])
def test_overfit_fixed_batch(rhd_root, tmp_path, task_cls, options, lr, steps):
    torch.manual_seed(0)
    task = task_cls()
    config = _config(task, rhd_root, tmp_path, options=options or task.Options())
    ds = task.dataset(config)
    batch = default_collate([ds[(i, (0, i))] for i in range(2)])
    model = task.build_model(config)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr)
    losses = []
    for _ in range(steps):
        loss = task.loss(model, batch, config)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0] and sum(losses[-3:]) / 3 < 0.95 * losses[0], losses


def test_lr_schedule():
    r = HandSegTask.recipe
    assert [lr_at(i, r.lrs, r.lr_steps) for i in (0, 19_999, 20_000, 29_999, 30_000, 39_999)] == \
        [1e-5, 1e-5, 1e-6, 1e-6, 1e-7, 1e-7]
    assert PoseNetTask.recipe.iterations == 30_000 and LiftingTask.recipe.iterations == 80_000


def test_registry_and_family_sizes(rhd_root, tmp_path):
    assert list(tasks.TASKS) == ["handsegnet", "posenet", "lifting"]
    assert all(tasks.get(n).recipe.name == n for n in tasks.TASKS)
    with pytest.raises(TrainingError, match="unknown task"):
        tasks.get("nope")
    # the registry's sizes: lite frames at half size (random 128 crops), lite PoseNet crops of 96
    paper, lite = _config(PoseNetTask(), rhd_root, tmp_path), _config(PoseNetTask(), rhd_root, tmp_path, arch="lite")
    assert PoseNetTask.crop_size(paper) == 256 and PoseNetTask.crop_size(lite) == 96
    assert HandSegTask.downscale(paper) == 1.0 and HandSegTask.downscale(lite) == 0.5
    # the lite HandSegNet has 3 classes (background / left / right): it trains on training.mixed's frames,
    # 128 crops of frames scaled to the lite input width, with side labels
    seg_lite = HandSegTask().dataset(_config(HandSegTask(), rhd_root, tmp_path, arch="lite"))
    assert isinstance(seg_lite, SegmentationFrames) and tasks.classes_of("lite") == 3 and tasks.classes_of("paper") == 2
    assert (seg_lite.size, seg_lite.classes, seg_lite.frame_width) == (128, 3, 160)
    sample = seg_lite[(0, (0, 0))]
    assert sample["image"].shape == (3, 128, 128) and sample["hand_mask"].shape == (128, 128)
    assert set(sample["hand_mask"].unique().tolist()) <= {0, 1, 2, 255}
    assert HandSegTask().dataset(_config(HandSegTask(), rhd_root, tmp_path)).crop_size == 256  # the release's
    assert type(PoseNetTask().build_model(lite)).ARCHITECTURE == "lite"


def test_load_init_names_a_missing_network(rhd_root, tmp_path):
    task = LiftingTask()
    model = task.build_model(_config(task, rhd_root, tmp_path))
    exported = task.export(model)
    assert set(exported) == {"poseprior", "viewpoint"}
    task.load_init(model, exported)
    with pytest.raises(WeightsError, match="no 'viewpoint' network"):
        task.load_init(model, {"poseprior": exported["poseprior"]})


def test_lifting_input_shows_occluded_keypoints_only_when_asked(rhd_root, tmp_path):
    task = LiftingTask()

    class Capture(torch.nn.Module):
        def forward(self, maps, hand_side):
            self.maps = maps
            return torch.zeros(maps.shape[0], 21, 3), torch.eye(3).expand(maps.shape[0], 3, 3)

    uv = torch.full((1, 21, 2), 128.0)
    uv[0, 5] = torch.tensor([40.0, 60.0])
    vis = torch.ones(1, 21, dtype=torch.bool)
    vis[0, 5] = False                                          # keypoint 5 is occluded
    batch = {"uv": uv, "vis": vis, "hand_side": torch.tensor([[1.0, 0.0]]),
             "coord_can": torch.zeros(1, 21, 3), "rot_mat": torch.eye(3)[None]}
    maps = {}
    for all_keypoints in (False, True):
        config = TrainConfig.for_task(task, rhd_root, tmp_path, arch="lite",
                                      options=tasks.LiftingOptions(all_keypoints=all_keypoints))
        model = Capture()
        task.loss(model, batch, config)
        maps[all_keypoints] = model.maps
    assert maps[False][0, 5].abs().max() == 0                  # the release: occluded keypoints are not drawn
    peak = torch.nonzero(maps[True][0, 5] == maps[True][0, 5].max())[0].tolist()
    assert peak == [60 // 8, 40 // 8]                          # drawn where it is (pooled 8x8)
    torch.testing.assert_close(maps[True][0, :5], maps[False][0, :5])


def test_lifting_on_predicted_maps_uses_each_hands_3d(rhd_root, tmp_path):
    """With --scoremaps the maps are resized to the lifting's side and the targets are the hands' own 3D."""
    from training.real3d import world_targets

    task = LiftingTask()

    class Capture(torch.nn.Module):
        def forward(self, maps, hand_side):
            self.maps, self.hand_side = maps, hand_side
            return torch.zeros(maps.shape[0], 21, 3), torch.eye(3).expand(maps.shape[0], 3, 3)

    xyz = mean_hand().float() + torch.tensor([0.1, 0.2, 0.5])
    side = torch.tensor([[0.0, 1.0]])
    batch = {"scoremap": torch.rand(1, 21, 24, 24), "xyz": xyz, "hand_side": side}
    config = TrainConfig.for_task(task, rhd_root, tmp_path, arch="lite",
                                  options=tasks.LiftingOptions(scoremaps=("unused.npz",)))
    model = Capture()
    loss = task.loss(model, batch, config)
    assert model.maps.shape == (1, 21, 32, 32) and torch.equal(model.hand_side, side)
    target = world_targets(xyz.double(), side.double())
    expected = (target.coord_can ** 2).mean() + ((target.rot_mat - torch.eye(3)) ** 2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    heavy = TrainConfig.for_task(task, rhd_root, tmp_path, arch="lite",
                                 options=tasks.LiftingOptions(scoremaps=("unused.npz",), bone_weight=1.0))
    assert task.loss(model, batch, heavy).item() > loss.item()   # the zero hand has no proportions at all
