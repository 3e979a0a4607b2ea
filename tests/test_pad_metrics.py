"""PAD metrics (ISO/IEC 30107-3), loss forecast and training plots.

Hand-computed cases use dyadic scores (exact in binary) so that threshold comparisons
and means are exact; the ROC/AUC/EER are checked against scikit-learn on tied scores.
Also hand-computed: APCER per attack species and pooled, the video-level threshold chosen
on validation video means, and mean ± std over a protocol's folds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from etl.train import metrics as pad_metrics
from etl.train.forecast import ExpFit, _three_point_guess, fit_exponential
from etl.train.metrics import (
    PadReport,
    PadScores,
    acer,
    apcer_per_species,
    apcer_per_type,
    apcer_pooled,
    attacks_per_species,
    bpcer,
    eer,
    fold_summary,
    hter,
    mean_std,
    pad_report,
    report_table,
    roc_auc,
    roc_curve,
    threshold_at_eer,
    video_level,
)

# 4 live, 3 print, 3 replay; order of scores: .875P .75P .625N .5P .4375P .375N .3125P .25N .125P/N
LIVE = [0.125, 0.25, 0.625, 0.375]
PRINT = [0.875, 0.3125, 0.5]  # 0.5 sits on the threshold: classified attack (score >= t)
REPLAY = [0.75, 0.4375, 0.125]
VIDEOS = ["live_1", "live_1", "live_2", "live_2", "print_1", "print_1", "print_2", "replay_1", "replay_1", "replay_1"]


def _hand_case(order: np.ndarray | None = None) -> PadScores:
    scores = np.array(LIVE + PRINT + REPLAY)
    types = np.array(["live"] * 4 + ["print"] * 3 + ["replay"] * 3)
    groups = np.array(VIDEOS)
    if order is not None:
        scores, types, groups = scores[order], types[order], groups[order]
    return PadScores(scores=scores, is_attack=types != "live", attack_types=types, groups=groups)


def _random_case(seed: int, n: int = 300, levels: int = 17) -> PadScores:
    rng = np.random.default_rng(seed)
    is_attack = rng.random(n) < 0.6
    # few distinct levels -> many ties, with attacks shifted up so AUC is well above 0.5
    scores = np.clip(rng.integers(0, levels, n) + 4 * is_attack, 0, levels - 1) / (levels - 1)
    types = np.where(is_attack, np.where(rng.random(n) < 0.5, "print", "replay"), "live")
    return PadScores(scores=scores, is_attack=is_attack, attack_types=types)


# ---------------------------------------------------------------- hand-computed frame level


def test_hand_case_rates_at_half():
    s = _hand_case()
    assert apcer_per_type(s, 0.5) == {"print": 1 / 3, "replay": 2 / 3}
    assert bpcer(s, 0.5) == 0.25
    assert acer(s, 0.5) == pytest.approx(11 / 24, abs=1e-15)
    assert hter(s, 0.5) == pytest.approx(0.375, abs=1e-15)  # APCER over all = 3/6


def test_threshold_boundary_is_score_ge_threshold():
    s = _hand_case()
    # just above 0.5 the print at 0.5 becomes bona fide; live 0.625 stays attack
    assert apcer_per_type(s, 0.5 + 1e-9) == {"print": 2 / 3, "replay": 2 / 3}
    assert apcer_per_type(s, 0.0) == {"print": 0.0, "replay": 0.0}
    assert bpcer(s, 0.0) == 1.0
    assert bpcer(s, 1.0) == 0.0


def test_hand_case_auc_and_eer():
    s = _hand_case()
    # attack-over-bona-fide pairs: 4 + 2 + 3 + 4 + 3 + 0.5 (tie at 0.125) = 16.5 of 24
    assert roc_auc(s) == pytest.approx(16.5 / 24, abs=1e-15)
    rate, threshold = eer(s)
    # FPR - FNR: -1/12 at threshold 0.4375 (fpr 1/4, fnr 1/3), +1/6 at 0.375 (fpr 1/2, fnr 1/3)
    # t = 1/3: EER = 1/4 + (1/3)(1/4) = 1/3; threshold = 0.4375 - (1/3)(0.0625) = 5/12
    assert rate == pytest.approx(1 / 3, abs=1e-15)
    assert threshold == pytest.approx(5 / 12, abs=1e-15)
    assert threshold_at_eer(s) == threshold


def test_eer_crossing_in_first_segment_uses_one_as_top_threshold():
    # all scores tied at 0.9: ROC is (0,0) at +inf then (1,1); d goes -1 -> +1, t = 1/2
    s = PadScores([0.9, 0.9, 0.9], [False, True, True], ["live", "print", "replay"])
    assert eer(s) == (0.5, 0.95)  # threshold halfway between 1.0 (stands for +inf) and 0.9
    assert roc_auc(s) == 0.5


def test_hand_case_roc_curve():
    fpr, tpr, thr = roc_curve(_hand_case())
    np.testing.assert_array_equal(thr, [np.inf, 0.875, 0.75, 0.625, 0.5, 0.4375, 0.375, 0.3125, 0.25, 0.125])
    np.testing.assert_array_equal(fpr * 4, [0, 0, 0, 1, 1, 1, 2, 2, 3, 4])
    np.testing.assert_array_equal(tpr * 6, [0, 1, 2, 2, 3, 4, 4, 5, 5, 6])


# ---------------------------------------------------------------- video level


def test_video_level_means_sorted_by_video():
    order = np.random.default_rng(3).permutation(10)  # frame order must not matter
    v = video_level(_hand_case(order))
    assert v.groups.tolist() == ["live_1", "live_2", "print_1", "print_2", "replay_1"]
    assert v.scores.tolist() == [0.1875, 0.5, 0.59375, 0.5, 0.4375]
    assert v.is_attack.tolist() == [False, False, True, True, True]
    assert v.attack_types.tolist() == ["live", "live", "print", "print", "replay"]


def test_video_level_metrics():
    v = video_level(_hand_case())
    assert bpcer(v, 0.5) == 0.5  # live_2 mean is exactly 0.5
    assert apcer_per_type(v, 0.5) == {"print": 0.0, "replay": 1.0}
    assert acer(v, 0.5) == 0.75
    assert hter(v, 0.5) == pytest.approx(5 / 12, abs=1e-15)  # (1/3 + 1/2) / 2
    assert roc_auc(v) == 0.75  # pairs: 0.59375 beats 2, 0.5 beats 1 and ties 1, 0.4375 beats 1: 4.5 of 6
    # ROC crossing between thresholds 0.59375 (fpr 0, fnr 2/3) and 0.5 (fpr 1/2, fnr 1/3): t = 4/5
    assert eer(v) == pytest.approx((0.4, 0.59375 - 0.8 * 0.09375), abs=1e-15)


def test_video_level_rejects_mixed_or_missing_groups():
    s = _hand_case()
    with pytest.raises(ValueError, match="groups"):
        video_level(PadScores(s.scores, s.is_attack, s.attack_types))
    groups = s.groups.copy()
    groups[0] = "print_1"  # a live frame inside an attack video
    with pytest.raises(ValueError, match="mix bona fide and attack.*print_1"):
        video_level(PadScores(s.scores, s.is_attack, s.attack_types, groups))
    groups = s.groups.copy()
    groups[4] = "replay_1"  # a print frame inside a replay video
    with pytest.raises(ValueError, match="mix attack types.*replay_1"):
        video_level(PadScores(s.scores, s.is_attack, s.attack_types, groups))


# ---------------------------------------------------------------- against scikit-learn


def _sklearn_eer(is_attack: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Reference: the documented interpolation, written as a loop over sklearn's ROC segments."""
    from sklearn.metrics import roc_curve as sk_roc_curve

    fpr, tpr, thr = sk_roc_curve(is_attack, scores, drop_intermediate=False)
    fnr = 1 - tpr
    for k in range(1, len(fpr)):
        if fpr[k] - fnr[k] >= 0:
            g0, g1 = fpr[k - 1] - fnr[k - 1], fpr[k] - fnr[k]
            t = g0 / (g0 - g1)
            upper = 1.0 if math.isinf(thr[k - 1]) else thr[k - 1]
            # the crossing: the two segment parametrisations must agree
            assert fpr[k - 1] + t * (fpr[k] - fpr[k - 1]) == pytest.approx(fnr[k - 1] + t * (fnr[k] - fnr[k - 1]))
            return fpr[k - 1] + t * (fpr[k] - fpr[k - 1]), upper + t * (thr[k] - upper)
    raise AssertionError("no crossing")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_roc_auc_eer_match_sklearn_with_ties(seed):
    import sklearn.metrics as sk

    s = _random_case(seed)
    assert np.unique(s.scores).size < 20  # the case really has ties
    fpr, tpr, thr = roc_curve(s)
    sk_fpr, sk_tpr, sk_thr = sk.roc_curve(s.is_attack, s.scores, drop_intermediate=False)
    np.testing.assert_array_equal(fpr, sk_fpr)
    np.testing.assert_array_equal(tpr, sk_tpr)
    np.testing.assert_array_equal(thr, sk_thr)
    assert abs(roc_auc(s) - sk.roc_auc_score(s.is_attack, s.scores)) < 1e-12
    rate, threshold = eer(s)
    ref_rate, ref_threshold = _sklearn_eer(s.is_attack, s.scores)
    assert abs(rate - ref_rate) < 1e-9
    assert abs(threshold - ref_threshold) < 1e-9


def test_roc_auc_matches_sklearn_continuous_scores():
    import sklearn.metrics as sk

    rng = np.random.default_rng(11)
    is_attack = rng.random(500) < 0.3
    scores = np.clip(rng.normal(0.4 + 0.2 * is_attack, 0.15), 0, 1)
    s = PadScores(scores, is_attack, np.where(is_attack, "replay", "live"))
    assert abs(roc_auc(s) - sk.roc_auc_score(is_attack, scores)) < 1e-12
    assert abs(eer(s)[0] - _sklearn_eer(is_attack, scores)[0]) < 1e-9


def test_rates_agree_with_roc_points():
    s = _random_case(5)
    fpr, tpr, thr = roc_curve(s)
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:]):
        assert bpcer(s, th) == pytest.approx(f, abs=1e-15)
        assert apcer_pooled(s, th) == pytest.approx(1 - t, abs=1e-15)


# ---------------------------------------------------------------- report, threshold from dev


def test_pad_report_uses_given_threshold_not_test(monkeypatch):
    dev, test = _random_case(7), _random_case(8, levels=9)
    t_dev, t_test = threshold_at_eer(dev), threshold_at_eer(test)
    assert t_dev != t_test

    def _forbidden(_: PadScores) -> float:
        raise AssertionError("pad_report must not choose a threshold on the test split")

    monkeypatch.setattr(pad_metrics, "threshold_at_eer", _forbidden)
    r = pad_report(test, t_dev)
    assert r.threshold == t_dev
    assert r.apcer == apcer_per_type(test, t_dev)
    assert r.bpcer == bpcer(test, t_dev)
    assert r.hter == hter(test, t_dev)
    assert (r.bpcer, r.hter) != (bpcer(test, t_test), hter(test, t_test))


def test_pad_report_hand_case_and_table():
    s = _hand_case()
    r = pad_report(s, 0.5)
    assert r == PadReport(
        threshold=0.5,
        apcer={"print": 1 / 3, "replay": 2 / 3},
        max_apcer=2 / 3,
        apcer_per_species={},  # the hand case carries no media
        max_apcer_species=None,
        apcer_pooled=0.5,
        bpcer=0.25,
        acer=(2 / 3 + 0.25) / 2,
        hter=0.375,
        eer=r.eer,
        auc=r.auc,
        n_bona_fide=4,
        n_attacks={"print": 3, "replay": 3},
    )
    assert r.eer == pytest.approx(1 / 3) and r.auc == pytest.approx(0.6875)
    d = r.to_dict()
    assert d["apcer"] == {"print": 1 / 3, "replay": 2 / 3} and d["n_attacks"] == {"print": 3, "replay": 3}
    only_print = PadScores([0.1, 0.9, 0.2], [False, True, True], ["live", "print", "print"])
    table = report_table(
        {"P1 frame": r, "P1 video": pad_report(video_level(s), 0.5), "print only": pad_report(only_print, 0.5)}
    )
    assert table == (
        "| name | threshold | APCER print (%) | APCER replay (%) | max APCER (%) | pooled APCER (%) | BPCER (%) "
        "| ACER (%) | HTER (%) | EER (%) | AUC (%) | bona fide | attacks |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        "| P1 frame | 0.5000 | 33.33 | 66.67 | 66.67 | 50.00 | 25.00 | 45.83 | 37.50 | 33.33 | 68.75 | 4 | 6 |\n"
        "| P1 video | 0.5000 | 0.00 | 100.00 | 100.00 | 33.33 | 50.00 | 75.00 | 41.67 | 40.00 | 75.00 | 2 | 3 |\n"
        "| print only | 0.5000 | 50.00 | – | 50.00 | 50.00 | 0.00 | 25.00 | 25.00 | 0.00 | 100.00 | 1 | 2 |\n"
    )
    with pytest.raises(ValueError, match="at least one"):
        report_table({})


# ---------------------------------------------------------------- attack species and pooled APCER

# the hand case's attacks with a medium each (no video groups): print media 1, 2, 2; replay media 1, 1, 4
SPECIES_MEDIA = [1, 1, 1, 1] + [1, 2, 2] + [1, 1, 4]  # the four live media are never used


def _species_case(media=SPECIES_MEDIA) -> PadScores:
    s = _hand_case()
    return PadScores(scores=s.scores, is_attack=s.is_attack, attack_types=s.attack_types, media=media)


def test_apcer_per_species_pooled_and_iso_by_hand():
    s = _species_case()
    # at t = 0.5 an attack is missed (classified bona fide) when its score < 0.5:
    #   print-1:  0.875                -> 0 of 1 missed
    #   print-2:  0.3125, 0.5          -> 1 of 2 (0.5 sits on the threshold: detected)
    #   replay-1: 0.75, 0.4375         -> 1 of 2
    #   replay-4: 0.125                -> 1 of 1
    species = apcer_per_species(s, 0.5)
    assert species == {"print-1": 0.0, "print-2": 0.5, "replay-1": 0.5, "replay-4": 1.0}
    assert list(species) == ["print-1", "print-2", "replay-1", "replay-4"]  # by type, then medium
    assert attacks_per_species(s) == {"print-1": 1, "print-2": 2, "replay-1": 2, "replay-4": 1}
    # per type: print 1 of 3, replay 2 of 3; ISO/IEC 30107-3's APCER is their maximum, 2/3
    assert apcer_per_type(s, 0.5) == {"print": 1 / 3, "replay": 2 / 3}
    # pooled (the CDCN code's APCER): 3 of the 6 attacks missed
    assert apcer_pooled(s, 0.5) == 0.5
    # ACER takes ISO's APCER (2/3), not the worst species (1) nor the pooled one (1/2): (2/3 + 1/4) / 2
    assert acer(s, 0.5) == pytest.approx(11 / 24, abs=1e-15)
    r = pad_report(s, 0.5)
    assert (r.max_apcer, r.max_apcer_species, r.apcer_pooled) == (2 / 3, 1.0, 0.5)
    assert r.apcer_per_species == species and r.n_attacks_per_species == attacks_per_species(s)
    assert r.acer == acer(s, 0.5) and r.hter == (0.5 + 0.25) / 2  # HTER takes the pooled APCER


def test_species_without_medium_is_named_unknown_and_sorted_last():
    s = _species_case([None] * 4 + [1, 2, 2] + [None, 1, 4])
    # replay 0.75 has no medium; replay-1 is now only 0.4375 (missed at 0.5)
    assert apcer_per_species(s, 0.5) == {
        "print-1": 0.0,
        "print-2": 0.5,
        "replay-1": 1.0,
        "replay-4": 1.0,
        "replay-unknown": 0.0,
    }
    with pytest.raises(ValueError, match="needs media"):
        apcer_per_species(_hand_case(), 0.5)
    assert pad_report(_hand_case(), 0.5).apcer_per_species == {}


def test_video_level_keeps_media_and_refuses_mixed_media():
    s = _hand_case()
    # videos: live_1, live_2, print_1 (medium 2), print_2 (medium 1), replay_1 (medium 3)
    media = [1, 1, 1, 1, 2, 2, 1, 3, 3, 3]
    v = video_level(PadScores(s.scores, s.is_attack, s.attack_types, s.groups, media))
    assert v.media.tolist() == [1, 1, 2, 1, 3]
    # video means: print_1 0.59375 (medium 2), print_2 0.5 (medium 1), replay_1 0.4375 (medium 3)
    assert apcer_per_species(v, 0.5) == {"print-1": 0.0, "print-2": 0.0, "replay-3": 1.0}
    media[5] = 1  # print_1's frames now mix media 2 and 1
    with pytest.raises(ValueError, match="mix media.*print_1"):
        video_level(PadScores(s.scores, s.is_attack, s.attack_types, s.groups, media))


@pytest.mark.parametrize(
    ("media", "match"),
    [([None, True], "whole numbers"), ([1.0, 2.0], "whole numbers"), ([1, -2], ">= 0"), ([1], "same length")],
)
def test_pad_scores_media_validation(media, match):
    with pytest.raises(ValueError, match=match):
        PadScores([0.1, 0.9], [False, True], ["live", "print"], media=media)


# ---------------------------------------------------------------- the video-level threshold

# Validation: two live and two attack videos of two frames each.
#   frames  live  L1 0.125 0.375 | L2 0.0625 0.1875    attack A1 0.75 0.25 | A2 0.625 0.625
#   means   live  L1 0.25        | L2 0.125            attack A1 0.5       | A2 0.625
VALIDATION = {
    "L1": ("live", [0.125, 0.375]),
    "L2": ("live", [0.0625, 0.1875]),
    "A1": ("print", [0.75, 0.25]),
    "A2": ("replay", [0.625, 0.625]),
}
# Test: means live T_L1 0.4375, T_L2 0.125; print T_P1 0.5625; replay T_R1 0.46875
TEST = {
    "T_L1": ("live", [0.375, 0.5]),
    "T_L2": ("live", [0.125, 0.125]),
    "T_P1": ("print", [0.5, 0.625]),
    "T_R1": ("replay", [0.375, 0.5625]),
}


def _videos(videos: dict) -> PadScores:
    scores, types, groups = [], [], []
    for video, (attack_type, frame_scores) in videos.items():
        scores += frame_scores
        types += [attack_type] * len(frame_scores)
        groups += [video] * len(frame_scores)
    types = np.array(types)
    return PadScores(scores=scores, is_attack=types != "live", attack_types=types, groups=groups)


def test_video_threshold_is_chosen_on_validation_video_means():
    validation = _videos(VALIDATION)
    # frames, thresholds descending: 0.75 (A) 0.625 (A, A) 0.375 (L) 0.25 (A) 0.1875 (L) 0.125 (L) 0.0625 (L)
    #   FPR - FNR: +inf -1 | 0.75: 0 - 3/4 | 0.625: 0 - 1/4 | 0.375: 1/4 - 1/4 = 0 -> crossing at 0.375,
    #   t = (-1/4) / (-1/4 - 0) = 1: threshold 0.375, EER 1/4
    assert eer(validation) == (0.25, 0.375)
    # video means, descending: 0.625 (A2) 0.5 (A1) 0.25 (L1) 0.125 (L2)
    #   FPR - FNR: +inf -1 | 0.625: 0 - 1/2 | 0.5: 0 - 0 = 0 -> crossing at 0.5, t = 1: threshold 0.5, EER 0
    assert eer(video_level(validation)) == (0.0, 0.5)
    assert threshold_at_eer(video_level(validation)) != threshold_at_eer(validation)


def test_evaluate_applies_the_video_threshold_to_test_video_means():
    from etl.train.evaluate import VIDEO_THRESHOLD_FROM, evaluate

    evaluation = evaluate(_videos(VALIDATION), _videos(TEST))
    assert (evaluation.threshold, evaluation.video_threshold) == (0.375, 0.5)
    # video level at 0.5: live means 0.4375 and 0.125 pass (BPCER 0); print 0.5625 is caught (APCER 0);
    # replay 0.46875 < 0.5 is missed (APCER 1): ACER (1 + 0) / 2 = 1/2
    video = evaluation.video
    assert video.threshold == 0.5
    assert (video.apcer, video.bpcer, video.acer) == ({"print": 0.0, "replay": 1.0}, 0.0, 0.5)
    # (the frame threshold 0.375 on the video means, as before, would give BPCER 1/2, APCER 0, ACER 1/4)
    assert pad_report(video_level(_videos(TEST)), 0.375).acer == 0.25
    # frame level at 0.375: live frames 0.375, 0.5 flagged of 4 (BPCER 1/2), every attack frame >= 0.375: ACER 1/4
    frame = evaluation.frame
    assert (frame.threshold, frame.bpcer, frame.max_apcer, frame.acer) == (0.375, 0.5, 0.0, 0.25)
    metrics = evaluation.to_dict()
    assert metrics["threshold"] == metrics["frame_threshold"] == 0.375  # `threshold` stays the frame one
    assert metrics["video_threshold"] == 0.5 and metrics["video_threshold_from"] == VIDEO_THRESHOLD_FROM
    assert metrics["test_video"]["threshold"] == 0.5
    published, operating = metrics["comparable_with_published"], metrics["operating_point"]
    assert (published["frame_test_eer"], published["video_test_eer"]) == (frame.eer, video.eer)
    assert (operating["frame_acer"], operating["video_acer"]) == (0.25, 0.5)


def test_model_card_names_both_thresholds_and_which_figure_compares_with_published_tables(tmp_path):
    from etl.train.evaluate import evaluate, write_model_card

    validation, test = _videos(VALIDATION), _videos(TEST)
    media = [1] * len(test)  # every test attack of medium 1: species print-1, replay-1
    test = PadScores(test.scores, test.is_attack, test.attack_types, test.groups, media)
    evaluation = evaluate(validation, test)
    config = {"backbone": "MobileNet", "input_size": 48, "batch_size": 32, "lr_schedule": "plateau", "workers": 2}
    card = tmp_path / "model_card.md"
    options = {"frames_version": 3, "config": config, "counts": {}, "best_epoch": 1, "epochs_run": 2, "files": {}}
    write_model_card(card, protocol="P1", evaluation=evaluation, **options)
    text = card.read_text()
    assert "spoof when P(spoof) >= 0.3750 (frame threshold" in text
    assert "spoof when its frames' mean P(spoof) >= 0.5000 (video threshold" in text
    eer_frame, eer_video = evaluation.frame.eer * 100, evaluation.video.eer * 100
    assert f"comparable with published SiW tables: test EER {eer_frame:.2f} (frames), {eer_video:.2f} (videos)" in text
    assert "facelake's operating figure: ACER 25.00 (frames), 50.00 (videos)" in text
    # video row: threshold 0.5; print 0.5625 caught, replay 0.46875 missed; pooled 1 of 2; BPCER 0; ACER 50
    assert (
        "| video | 0.5000 | print 0.00, replay 100.00 | 100.00 | print-1 0.00, replay-1 100.00 | 50.00 | 0.00 | 50.00 |"
        in text
    )


# ---------------------------------------------------------------- mean ± std over folds


def test_mean_std_is_the_population_std():
    # 0, 1/4, 1/2, 1/4: mean 1/4; squared deviations 1/16, 0, 1/16, 0: mean 1/32; std sqrt(1/32)
    mean, std = mean_std([0.0, 0.25, 0.5, 0.25])
    assert mean == 0.25
    assert std == pytest.approx(math.sqrt(1 / 32), abs=1e-15)  # ddof 0; ddof 1 would be sqrt(1/24)
    assert mean_std([0.125]) == (0.125, 0.0)
    for bad in ([], [0.1, float("nan")]):
        with pytest.raises(ValueError, match="mean_std needs"):
            mean_std(bad)


def test_fold_summary_by_hand():
    folds = {
        "P2.1": {"frame_acer": 0.0, "frame_eer": 0.125},
        "P2.2": {"frame_acer": 0.25, "frame_eer": 0.125},
        "P2.3": {"frame_acer": 0.5, "frame_eer": 0.375},
        "P2.4": {"frame_acer": 0.25, "frame_eer": 0.375},
    }
    summary = fold_summary(folds, ["frame_acer", "frame_eer"])
    assert summary["folds"] == ["P2.1", "P2.2", "P2.3", "P2.4"] and summary["n_folds"] == 4
    assert summary["std"] == "population (ddof 0)"
    # ACER: as test_mean_std_is_the_population_std; EER: 1/8, 1/8, 3/8, 3/8 -> mean 1/4, deviations ±1/8: std 1/8
    assert summary["metrics"]["frame_acer"] == {"mean": 0.25, "std": pytest.approx(math.sqrt(1 / 32), abs=1e-15)}
    assert summary["metrics"]["frame_eer"] == {"mean": 0.25, "std": 0.125}
    with pytest.raises(ValueError, match=r"folds lack metrics: \{'P2.4': \['frame_eer'\]\}"):
        fold_summary({**folds, "P2.4": {"frame_acer": 0.25}}, ["frame_acer", "frame_eer"])
    with pytest.raises(ValueError, match="at least one fold"):
        fold_summary({}, ["frame_acer"])


def _fold(protocol: str, rate: float, test_eer: float) -> dict:
    """A fold's results as `etl.train.run.fold_result` writes them: ACER, APCER and BPCER all `rate`, frame and
    video alike, AUC 1 - test EER."""
    out = {"protocol": protocol, "folder": f"out/{protocol}", "threshold": 0.5, "video_threshold": 0.25}
    for level in ("frame", "video"):
        out |= {f"{level}_acer": rate, f"{level}_apcer": rate, f"{level}_apcer_pooled": rate}
        out |= {f"{level}_bpcer": rate, f"{level}_eer": test_eer, f"{level}_auc": 1 - test_eer}
    return out


def test_summary_table_adds_mean_std_rows_for_p2_and_p3():
    from etl.train.run import fold_summaries, summary_json, summary_table

    results = [_fold("P1", 0.0625, 0.03125)]
    results += [_fold(f"P2.{k}", rate, 0.125) for k, rate in zip((1, 2, 3, 4), (0.0, 0.25, 0.5, 0.25))]
    results += [_fold("P3.1", 0.5, 0.25), _fold("P3.2", 0.25, 0.125)]
    summaries = fold_summaries(results)
    assert set(summaries) == {"P2", "P3"}  # P1 has no folds
    # P3: ACER 1/2 and 1/4 -> mean 3/8, std 1/8; EER 1/4 and 1/8 -> mean 3/16, std 1/16
    assert summaries["P3"]["metrics"]["video_acer"] == {"mean": 0.375, "std": 0.125}
    assert summaries["P3"]["metrics"]["frame_eer"] == {"mean": 0.1875, "std": 0.0625}
    assert set(summaries["P2"]["metrics"]) == {
        f"{level}_{m}" for level in ("frame", "video") for m in ("acer", "apcer", "bpcer", "eer", "auc")
    }
    lines = summary_table(results).splitlines()
    assert lines[0] == (
        "| protocol | frame ACER % | video ACER % | frame test EER % | video test EER % | frame AUC "
        "| frame threshold | video threshold |"
    )
    assert lines[2] == "| P1 | 6.25 | 6.25 | 3.12 | 3.12 | 0.9688 | 0.5000 | 0.2500 |"
    # P2 ACER: mean 25 %, std sqrt(1/32) = 17.68 %; EER 12.5 % in every fold: std 0
    assert lines[7] == (
        "| P2 (mean ± std over 4 folds) | 25.00 ± 17.68 | 25.00 ± 17.68 | 12.50 ± 0.00 | 12.50 ± 0.00 "
        "| 0.8750 ± 0.0000 | – | – |"
    )
    assert lines[10] == (
        "| P3 (mean ± std over 2 folds) | 37.50 ± 12.50 | 37.50 ± 12.50 | 18.75 ± 6.25 | 18.75 ± 6.25 "
        "| 0.8125 ± 0.0625 | – | – |"
    )
    assert lines[11] == "" and "comparable with published SiW tables" in lines[12] and "ddof 0" in lines[12]
    assert summary_json(results) == {"folds": results, "fold_summaries": summaries}
    # a P2 fold run alone gets no summary row, and the legend says nothing of folds
    alone = summary_table([_fold("P2.3", 0.5, 0.25)])
    assert "mean ± std" not in alone and "ddof" not in alone


# ---------------------------------------------------------------- edge cases and validation


def test_missing_class_errors_name_what_is_missing():
    attacks_only = PadScores([0.2, 0.9], [True, True], ["print", "replay"])
    live_only = PadScores([0.2, 0.9], [False, False], ["live", "live"])
    with pytest.raises(ValueError, match="BPCER needs bona fide"):
        bpcer(attacks_only, 0.5)
    with pytest.raises(ValueError, match="APCER needs attack presentations"):
        apcer_per_type(live_only, 0.5)
    for fn in (acer, hter):
        with pytest.raises(ValueError, match="bona fide"):
            fn(attacks_only, 0.5)
    for fn in (eer, roc_auc, roc_curve, threshold_at_eer):
        with pytest.raises(ValueError, match="attack presentations"):
            fn(live_only)
    with pytest.raises(ValueError, match="pad_report needs bona fide"):
        pad_report(attacks_only, 0.5)
    assert apcer_per_type(attacks_only, 0.5) == {"print": 1.0, "replay": 0.0}
    # a type with no samples is omitted, not reported as 0
    assert apcer_per_type(PadScores([0.1, 0.7], [False, True], ["live", "replay"]), 0.5) == {"replay": 0.0}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scores": [0.1, 0.2], "is_attack": [False], "attack_types": ["live"]}, "same length"),
        ({"scores": [0.1, np.nan], "is_attack": [False, True], "attack_types": ["live", "print"]}, "finite"),
        ({"scores": [0.1, 1.5], "is_attack": [False, True], "attack_types": ["live", "print"]}, r"\[0, 1\]"),
        ({"scores": ["a", "b"], "is_attack": [False, True], "attack_types": ["live", "print"]}, "numeric"),
        ({"scores": [0.1, 0.2], "is_attack": [0, 2], "attack_types": ["live", "print"]}, "bool"),
        ({"scores": [0.1, 0.2], "is_attack": [False, True], "attack_types": ["live", "live"]}, "attack type 'live'"),
        ({"scores": [0.1, 0.2], "is_attack": [False, True], "attack_types": ["print", "print"]}, "bona fide"),
        ({"scores": [0.1, 0.2], "is_attack": [False, True], "attack_types": [0, 1]}, "strings"),
        ({"scores": [[0.1, 0.2]], "is_attack": [[False, True]], "attack_types": [["live", "print"]]}, "1-D"),
        (
            {"scores": [0.1, 0.2], "is_attack": [False, True], "attack_types": ["live", "print"], "groups": ["a"]},
            "same length",
        ),
    ],
)
def test_pad_scores_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PadScores(**kwargs)


def test_pad_scores_converts_inputs():
    s = PadScores(scores=[0, 1], is_attack=np.array([0, 1]), attack_types=np.array(["live", "print"], dtype=object))
    assert s.scores.dtype == np.float64 and s.is_attack.dtype == bool and s.attack_types.dtype.kind == "U"
    with pytest.raises(ValueError, match="finite"):
        bpcer(s, float("nan"))


# ---------------------------------------------------------------- loss forecast


@pytest.mark.parametrize(("a", "b", "c", "n"), [(2.0, 0.25, 0.3, 40), (0.9, 0.08, 0.05, 60), (-0.5, 0.4, 0.95, 20)])
def test_fit_exponential_recovers_exact_curve(a, b, c, n):
    x = np.arange(1, n + 1)
    fit = fit_exponential((a * np.exp(-b * x) + c).tolist())
    assert abs(fit.a - a) < 1e-3 and abs(fit.b - b) < 1e-3 and abs(fit.c - c) < 1e-3
    assert fit.rmse < 1e-6
    np.testing.assert_allclose(
        fit.predict(np.array([n + 5, n + 10])), a * np.exp(-b * np.array([n + 5, n + 10])) + c, atol=1e-4
    )


def test_fit_exponential_exact_curve_where_three_point_guess_fails():
    # a fast decay: middle and last points are both 0.7 in float, so only the log-linear start is left
    x = np.arange(1.0, 22.0)
    y = 1.2 * np.exp(-5 * x) + 0.7
    assert _three_point_guess(x, y) is None
    fit = fit_exponential(y.tolist())
    assert abs(fit.a - 1.2) < 1e-3 and abs(fit.b - 5) < 1e-3 and abs(fit.c - 0.7) < 1e-3


def test_fit_exponential_noisy_curve():
    rng = np.random.default_rng(0)
    x = np.arange(1, 61)
    losses = 1.5 * np.exp(-0.15 * x) + 0.4 + rng.normal(0, 0.01, x.size)
    fit = fit_exponential(losses)
    assert abs(fit.b - 0.15) < 0.01 and abs(fit.c - 0.4) < 0.01 and abs(fit.a - 1.5) < 0.1
    assert 0.007 < fit.rmse < 0.013  # about the noise level: neither over- nor under-fitted
    assert abs(float(fit.predict(80.0)) - (1.5 * math.exp(-12) + 0.4)) < 0.01


def test_fit_exponential_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        fit_exponential([1.0, 0.5])
    with pytest.raises(ValueError, match="finite"):
        fit_exponential([1.0, 0.5, float("nan"), 0.3])
    flat = fit_exponential([0.5, 0.5, 0.5, 0.5])  # no decay: a ~ 0, the plateau is the value
    assert abs(flat.predict(100.0) - 0.5) < 1e-6 and flat.rmse < 1e-9


# ---------------------------------------------------------------- plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plot_roc_det_writes_png(tmp_path):
    from etl.train.plots import plot_roc_det

    s = _hand_case()
    out = plot_roc_det({"frame": s, "video": video_level(s), "random": _random_case(1)}, tmp_path / "plots" / "roc.png")
    data = out.read_bytes()
    assert out == tmp_path / "plots" / "roc.png"
    assert _png_size(data) == (1100, 450) and len(data) > 20_000
    with pytest.raises(ValueError, match="at least one"):
        plot_roc_det({}, tmp_path / "empty.png")
    with pytest.raises(ValueError, match="attack presentations"):
        plot_roc_det({"live only": PadScores([0.1], [False], ["live"])}, tmp_path / "bad.png")
    assert not (tmp_path / "empty.png").exists() and not (tmp_path / "bad.png").exists()


def test_plot_training_writes_png(tmp_path):
    from etl.train.plots import plot_training

    x = np.arange(1, 21)
    history = {
        "loss": (0.9 * np.exp(-0.2 * x) + 0.2).tolist(),
        "val_loss": (0.9 * np.exp(-0.18 * x) + 0.25).tolist(),
        "accuracy": (0.95 - 0.4 * np.exp(-0.3 * x)).tolist(),
        "val_accuracy": (0.92 - 0.4 * np.exp(-0.3 * x)).tolist(),
        "lr": [1e-3] * 20,
    }
    fit = fit_exponential(history["val_loss"])
    with_acc = plot_training(history, tmp_path / "train.png", fit)
    loss_only = plot_training({"loss": history["loss"]}, tmp_path / "loss.png")
    for out in (with_acc, loss_only):
        data = out.read_bytes()
        assert _png_size(data) == (1100, 450) and len(data) > 10_000
    assert with_acc.stat().st_size > loss_only.stat().st_size  # the second panel and forecast were drawn
    with pytest.raises(ValueError, match="empty dict"):
        plot_training({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="non-empty"):
        plot_training({"loss": []}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="loss series"):
        plot_training({"accuracy": [0.5, 0.6]}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_expfit_predict_shape():
    fit = ExpFit(a=1.0, b=0.5, c=0.1, rmse=0.0)
    assert fit.predict(np.array([1.0, 2.0])).shape == (2,)
    assert float(fit.predict(0.0)) == pytest.approx(1.1)
