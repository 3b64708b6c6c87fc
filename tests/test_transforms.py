"""Joint image+mask transforms: masks are never interpolated, padding is ignore_index, image and mask move together,
and the randomness is reproducible (also across DataLoader workers)."""

import pytest
import torch
from PIL import Image

from segzoo.data import transforms as T
from segzoo.data.transforms import pil_to_tensor


def block_mask(w=64, h=48, values=(0, 3, 7, 250), block=16, mode="L"):
    """A mask of large constant blocks cycling through ``values`` (every value covers >= 1 whole block)."""
    mask = Image.new(mode, (w, h))
    for by in range(0, h, block):
        for bx in range(0, w, block):
            v = values[(bx // block + by // block * 7) % len(values)]
            mask.paste(v, (bx, by, min(bx + block, w), min(by + block, h)))
    return mask


def noise_image(w=64, h=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, 256, (h, w, 3), generator=g, dtype=torch.uint8)
    return Image.frombytes("RGB", (w, h), t.numpy().tobytes())


def values(mask):
    t = mask if isinstance(mask, torch.Tensor) else pil_to_tensor(mask)
    return set(torch.unique(t).tolist())


def coord_pair(w=15, h=15):
    """'L' image and 'L' mask both holding y*w+x (< 255, so 255 can only be padding/fill)."""
    assert w * h <= 255
    data = bytes(y * w + x for y in range(h) for x in range(w))
    return Image.frombytes("L", (w, h), data), Image.frombytes("L", (w, h), data)


def rgb_coord_pair(w=40, h=30):
    """RGB image with R = x, G = y, B = 200 and an 'I' mask holding y*w+x (> 255: exercises 32-bit masks)."""
    rgb = bytes(c for y in range(h) for x in range(w) for c in (x, y, 200))
    mask = torch.tensor([[y * w + x for x in range(w)] for y in range(h)], dtype=torch.int32)
    return Image.frombytes("RGB", (w, h), rgb), Image.frombytes("I", (w, h), mask.numpy().tobytes())


ALL_RANDOM = [
    T.Resize(37),
    T.Resize((20, 50)),
    T.Resize(30, interpolation="bicubic", max_size=50),
    T.RandomScale((0.3, 2.2)),
    T.RandomCrop(40),
    T.RandomCrop((100, 90)),
    T.CenterCrop(30),
    T.CenterCrop(101),
    T.RandomHorizontalFlip(1.0),
    T.RandomVerticalFlip(1.0),
    T.RandomRotation(30),
    T.RandomRotation(45, expand=True, interpolation="bicubic"),
    T.ColorJitter(0.4, 0.4, 0.4, 0.1),
]


@pytest.mark.parametrize("transform", ALL_RANDOM, ids=repr)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_values_are_never_interpolated(transform, seed):
    torch.manual_seed(seed)
    mask = block_mask()
    before = values(mask)
    image, out = transform(noise_image(), mask)
    assert image.size == out.size
    after = values(out)
    assert after <= before | {255}, f"new values {after - before - {255}}"
    if not isinstance(transform, (T.RandomCrop, T.CenterCrop, T.RandomRotation)):
        assert after == before  # blocks are big enough to survive any resize used here


@pytest.mark.parametrize(
    "transform", [T.RandomRotation(40), T.RandomCrop(80), T.CenterCrop(70), T.RandomScale()], ids=repr
)
def test_wide_masks_keep_values_and_get_the_given_ignore_index(transform):
    transform.ignore_index = 65535 if hasattr(transform, "ignore_index") else None
    torch.manual_seed(0)
    mask = block_mask(values=(0, 300, 70000, 5), mode="I")
    _, out = transform(noise_image(), mask)
    assert out.mode == "I"
    assert values(out) <= {0, 300, 70000, 5, 65535}


def test_compose_with_to_tensor_and_normalize_gives_the_trainer_form():
    tf = T.Compose(
        [
            T.RandomScale((0.5, 1.5)),
            T.RandomCrop(32),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.2, 0.2),
            T.ToTensor(),
            T.Normalize(),
        ]
    )
    torch.manual_seed(0)
    image, mask = tf(noise_image(), block_mask())
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32)
    assert mask.dtype == torch.int64 and mask.shape == (32, 32)
    assert values(mask) <= {0, 3, 7, 250, 255}
    assert "RandomCrop" in repr(tf)


def test_random_crop_pads_mask_with_ignore_index_and_image_with_fill():
    image = Image.new("RGB", (20, 10), (9, 9, 9))
    mask = Image.new("L", (20, 10), 4)
    for ignore in (255, 99):
        img, m = T.RandomCrop((16, 32), ignore_index=ignore, fill=(1, 2, 3))(image, mask)
        assert img.size == m.size == (32, 16)
        img_t, m_t = pil_to_tensor(img), pil_to_tensor(m)
        # the input sits at the top-left; padding is right and bottom
        assert (m_t[:10, :20] == 4).all() and (m_t[10:, :] == ignore).all() and (m_t[:, 20:] == ignore).all()
        assert (img_t[:10, :20] == 9).all() and img_t[12, 25].tolist() == [1, 2, 3]


def test_center_crop_pads_evenly_and_crops_the_centre():
    image, mask = coord_pair(15, 15)
    img, m = T.CenterCrop((5, 7))(image, mask)
    assert pil_to_tensor(m)[0, 0].item() == 5 * 15 + 4  # top-left of the central 7x5 window: x=4, y=5
    img, m = T.CenterCrop(19)(image, mask)
    t = pil_to_tensor(m)
    assert (t[:2] == 255).all() and (t[-2:] == 255).all() and (t[:, :2] == 255).all() and (t[:, -2:] == 255).all()
    assert t[2, 2].item() == 0 and (pil_to_tensor(img)[:2] == 0).all()


@pytest.mark.parametrize(
    "transform",
    [
        T.RandomHorizontalFlip(1.0),
        T.RandomVerticalFlip(1.0),
        T.RandomRotation((90, 90), interpolation="nearest"),
        T.RandomRotation(37, interpolation="nearest"),
        T.RandomRotation(20, interpolation="nearest", expand=True),
        T.RandomScale((0.5, 2.0), interpolation="nearest"),
        T.RandomCrop(20),
        T.CenterCrop(11),
        T.Resize((31, 9), interpolation="nearest"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("seed", [0, 1])
def test_geometric_transforms_move_image_and_mask_identically(transform, seed):
    torch.manual_seed(seed)
    image, mask = coord_pair()
    img, m = transform(image, mask)
    img_t, m_t = pil_to_tensor(img), pil_to_tensor(m)
    inside = m_t != 255
    assert inside.any()
    assert torch.equal(img_t[inside], m_t[inside])
    assert (img_t[~inside] == 0).all()  # uncovered corners: image fill 0, mask ignore_index

    torch.manual_seed(seed)
    rgb, wide = rgb_coord_pair()
    transform_ignore = getattr(transform, "ignore_index", None)
    if transform_ignore is not None:
        transform.ignore_index = -1
    try:
        img, m = transform(rgb, wide)
    finally:
        if transform_ignore is not None:
            transform.ignore_index = transform_ignore
    img_t, m_t = pil_to_tensor(img).to(torch.int64), pil_to_tensor(m).to(torch.int64)
    inside = m_t != -1
    assert torch.equal(m_t[inside], img_t[..., 1][inside] * 40 + img_t[..., 0][inside])


def test_flips_and_quarter_rotation_are_the_expected_permutations():
    image, mask = coord_pair(15, 15)
    t = pil_to_tensor(mask).to(torch.int64)
    _, m = T.RandomHorizontalFlip(1.0)(image, mask)
    assert torch.equal(pil_to_tensor(m).to(torch.int64), t.flip(1))
    _, m = T.RandomVerticalFlip(1.0)(image, mask)
    assert torch.equal(pil_to_tensor(m).to(torch.int64), t.flip(0))
    _, m = T.RandomRotation((90, 90))(image, mask)  # counter-clockwise
    assert torch.equal(pil_to_tensor(m).to(torch.int64), torch.rot90(t, 1, (0, 1)))
    _, m = T.RandomHorizontalFlip(0.0)(image, mask)
    assert torch.equal(pil_to_tensor(m).to(torch.int64), t)


def test_rotation_fills_mask_corners_with_ignore_index():
    image, mask = Image.new("RGB", (40, 40), (50, 60, 70)), Image.new("L", (40, 40), 2)
    img, m = T.RandomRotation((45, 45), ignore_index=77, fill=5)(image, mask)
    assert values(m) == {2, 77}
    assert pil_to_tensor(m)[0, 0].item() == 77 and pil_to_tensor(img)[0, 0].tolist() == [5, 5, 5]


def test_resize_shorter_side_and_exact_size():
    image, mask = noise_image(100, 50), block_mask(100, 50)
    img, m = T.Resize(25)(image, mask)
    assert img.size == m.size == (50, 25)
    img, m = T.Resize((10, 20))(image, mask)
    assert img.size == m.size == (20, 10)
    img, m = T.Resize(40, max_size=60)(image, mask)
    assert img.size == (60, 30)


def test_color_jitter_changes_only_the_image():
    torch.manual_seed(0)
    image, mask = noise_image(), block_mask()
    img, m = T.ColorJitter(0.5, 0.5, 0.5, 0.2)(image, mask)
    assert m is mask
    assert img.tobytes() != image.tobytes() and img.mode == "RGB" and img.size == image.size
    gray = image.convert("L")
    img, _ = T.ColorJitter(0.5, 0.5, 0.5, 0.2)(gray, mask)
    assert img.mode == "L"
    unchanged, _ = T.ColorJitter()(image, mask)
    assert unchanged.tobytes() == image.tobytes()
    with pytest.raises(ValueError):
        T.ColorJitter(hue=0.7)


def test_hue_shift_of_half_a_turn_maps_red_to_cyan():
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    img, _ = T.ColorJitter(hue=(0.5, 0.5))(red, None)
    r, g, b = img.getpixel((0, 0))
    assert r < 10 and g > 245 and b > 245


def test_to_tensor_dtypes_ranges_and_modes():
    img, m = T.ToTensor()(Image.new("RGB", (5, 4), (255, 0, 51)), Image.new("L", (5, 4), 7))
    assert (
        img.shape == (3, 4, 5)
        and img.dtype == torch.float32
        and img[0].eq(1).all()
        and img[2].allclose(torch.tensor(0.2))
    )
    assert m.shape == (4, 5) and m.dtype == torch.int64 and m.eq(7).all()
    gray, _ = T.ToTensor()(Image.new("L", (5, 4), 255), None)
    assert gray.shape == (1, 4, 5)
    pmask = Image.new("P", (3, 3), 12)
    pmask.putpalette([0, 0, 0] * 256)
    _, m = T.ToTensor()(Image.new("RGB", (3, 3)), pmask)
    assert m.eq(12).all()  # palette masks keep their indices
    _, m = T.ToTensor()(Image.new("RGB", (3, 3)), Image.new("I", (3, 3), 70000))
    assert m.eq(70000).all() and m.dtype == torch.int64


def test_normalize():
    img = torch.full((3, 2, 2), 0.5)
    out, m = T.Normalize((0.5, 0.25, 0.0), (0.5, 0.25, 1.0))(img, "mask")
    assert m == "mask"
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.0, 1.0, 0.5]))
    with pytest.raises(TypeError, match="ToTensor"):
        T.Normalize()(Image.new("RGB", (2, 2)), None)
    with pytest.raises(ValueError, match="channels"):
        T.Normalize()(torch.zeros(1, 2, 2), None)


def test_geometric_transforms_refuse_tensors_and_mismatched_sizes():
    with pytest.raises(TypeError, match="ToTensor"):
        T.RandomCrop(4)(torch.zeros(3, 8, 8), torch.zeros(8, 8))
    with pytest.raises(ValueError, match="mask is"):
        T.RandomHorizontalFlip()(Image.new("RGB", (8, 8)), Image.new("L", (8, 9)))
    with pytest.raises(ValueError, match="8-bit"):
        T.RandomCrop(16, ignore_index=300)(Image.new("RGB", (8, 8)), Image.new("L", (8, 8)))


def test_mask_none_passes_through():
    tf = T.Compose([T.RandomScale(), T.RandomCrop(16), T.RandomRotation(10), T.ToTensor(), T.Normalize()])
    image, mask = tf(noise_image(), None)
    assert mask is None and image.shape == (3, 16, 16)


PIPELINE = T.Compose(
    [
        T.RandomScale((0.5, 2.0)),
        T.RandomCrop(24),
        T.RandomHorizontalFlip(),
        T.RandomRotation(20),
        T.ColorJitter(0.3, 0.3, 0.3, 0.05),
        T.ToTensor(),
    ]
)


def test_seeding_makes_pipelines_reproducible():
    def run(seed):
        torch.manual_seed(seed)
        return [PIPELINE(noise_image(seed=i), block_mask()) for i in range(4)]

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(a, c, strict=True))


class _PairDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return PIPELINE(noise_image(32, 32, seed=i), block_mask(32, 32))


def test_dataloader_with_two_workers_is_reproducible_from_the_generator_seed():
    def run(seed):
        loader = torch.utils.data.DataLoader(
            _PairDataset(), batch_size=2, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(seed)
        )
        return [(x.clone(), y.clone()) for x, y in loader]

    a, b, c = run(7), run(7), run(8)
    assert len(a) == 3
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(a, c, strict=True))
