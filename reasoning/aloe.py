"""ALOE: a transformer over object slots and question tokens (Ding et al. 2021; SlotFormer's Aloe*).

Sequence of one pass: `[CLS, F*K visual tokens, L text tokens]` (blind: `[CLS, L text tokens]`).
- visual token: slot features ++ modality flag [0, 1] -> Linear -> d_model;
- text token: word embedding (text_embed) ++ segment flag (question [1, 0] / choice [0, 1]; a
  descriptive question is all [0, 1], as in ALOE) ++ modality flag [1, 0] -> Linear -> d_model;
- optional relation tokens (object tracks only): one per unordered pair of slots, a shared MLP of both
  tracks (`track`) or of both slots at each frame max-pooled over the frames where both are present
  (`frames`), the pair taken in either order and summed; masked unless both objects are seen; with
  `relation_time` (frames) plus a soft choice of frame's learned embedding: when the pair's event happened;
- learnable positions (joint: one per token, as SlotFormer; factorised: frame + slot embeddings for
  visual tokens, one shared embedding for relation tokens), a pre-LN transformer encoder, padded text and
  absent slots masked out;
- optional input standardisation with the training cache's per-feature statistics.
Heads on CLS: 128 -> 22 answer classes (descriptive), 128 -> 1 (one multiple-choice option: question
and choice are one sequence, one pass per choice). Optional (object tracks): a mention head on each object
token (is it named by the pass's choice, or selected by a descriptive question?); a pair head, the
mention-weighted mean of an MLP of every slot pair's two tracks, read by the choice head beside CLS; a select
head, the mention-weighted mean of an MLP of each track and the soft count, read by the answer head beside CLS;
(relation tokens) a collision head, a logit per pair token, whose probabilities summed over the pairs seen (a soft
count of the collisions the question rests on) the answer head also reads.
Optional: object shuffling and the masked-slot self-supervised loss (one slot per frame replaced by a mask
token, its features regressed).

Speed without changing the function: columns that are masked in every pass of a batch (text
padding, slots absent from every video) are dropped before the encoder; the kept tokens keep their
positions, masked keys contribute nothing to attention and only CLS is read, so the outputs are
those of the full sequence (`tests/reasoning/test_qa_on_states.py` checks it against the untrimmed forward).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from reasoning.config import AloeConfig
from reasoning.encoder import Encoder


@dataclass
class AloeOutput:
    answer_logits: torch.Tensor  # [N, num_answers]
    choice_logits: torch.Tensor  # [N]
    mask_loss: torch.Tensor  # scalar; 0 unless the masked-slot loss is on (training)
    approach_loss: torch.Tensor  # scalar; 0 unless closest-approach targets were given (reasoning/approach.py)
    mention_loss: torch.Tensor  # scalar; 0 unless mention targets were given (aloe.mention_weight)
    collision_loss: torch.Tensor  # scalar; 0 unless collision targets were given (aloe.collision_head)
    when_loss: torch.Tensor  # scalar; 0 unless collision-frame targets were given (aloe.relation_time_target)


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


class Aloe(nn.Module):
    def __init__(self, cfg: AloeConfig, slot_dim: int, num_slots: int, num_frames: int, vocab_size: int,
                 num_answers: int, text_len: int):
        super().__init__()
        self.cfg = cfg
        self.slot_dim, self.num_slots, self.num_frames, self.text_len = slot_dim, num_slots, num_frames, text_len
        self.trim = True  # drop columns masked in every pass (exact; False: the full sequence)
        d = cfg.d_model
        self.word = nn.Embedding(vocab_size, cfg.text_embed, padding_idx=0)
        self.text_in = nn.Linear(cfg.text_embed + 4, d)
        self.tracks = cfg.visual_tokens == "object_track"
        n_visual = 0 if cfg.blind else (num_slots if self.tracks else num_frames * num_slots)
        self.relations = cfg.relation_tokens != "none" and not cfg.blind
        self.approach_head = None
        n_pairs = num_slots * (num_slots - 1) // 2 if self.relations else 0
        self.pair_head = cfg.pair_head and self.tracks and not cfg.blind
        self.select_head = cfg.select_head and self.tracks and not cfg.blind
        if self.relations or self.pair_head:
            first, second = torch.triu_indices(num_slots, num_slots, 1)  # [P] each, first < second
            self.register_buffer("pair_index", torch.stack([first, second]), persistent=False)
        if not cfg.blind:
            # a track token: every frame's features (zero where absent) and presence, then an MLP
            self.vision_in = (_mlp(num_frames * (slot_dim + 1) + 2, 2 * d, d) if self.tracks
                              else nn.Linear(slot_dim + 2, d))
            if self.relations:  # a pair token: both tracks (or both slots at each frame), either order, one MLP
                per = 1 if cfg.relation_tokens == "frames" else num_frames
                self.relation_in = _mlp(2 * per * (slot_dim + 1), 2 * d, d)
                if cfg.relation_time:  # when: a score per frame of the pair MLP's output, a learned embedding per frame
                    self.relation_when = nn.Linear(d, 1)
                    self.relation_frame = nn.Parameter(torch.randn(num_frames, d) * 0.02)
                self.approach_head = _mlp(d, cfg.head_hidden, 1) if cfg.approach_weight > 0 else None
            self.mask_token = nn.Parameter(torch.zeros(d))
            self.mask_out = nn.Linear(d, slot_dim)
            self.register_buffer("feat_mean", torch.zeros(slot_dim))
            self.register_buffer("feat_std", torch.ones(slot_dim))
        reads_objects = cfg.mention_weight > 0 or self.pair_head or self.select_head
        self.mention_head = _mlp(d, cfg.head_hidden, 1) if reads_objects and self.tracks and not cfg.blind else None
        # the pair head: |track_a - track_b| ++ (track_a + track_b) -> MLP -> d
        self.pair_in = _mlp(2 * num_frames * (slot_dim + 1), 2 * d, d) if self.pair_head else None
        # the select head: a track -> MLP -> d, mention-weighted mean ++ the soft count
        self.select_in = _mlp(num_frames * (slot_dim + 1), 2 * d, d) if self.select_head else None
        # the collision head: a pair token's output -> MLP -> one logit
        self.collision_in = _mlp(d, cfg.head_hidden, 1) if cfg.collision_head and self.relations else None
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        if cfg.positions == "joint":
            self.pos = nn.Parameter(torch.randn(1, 1 + n_visual + n_pairs + text_len, d) * 0.02)
        else:
            self.pos = nn.Parameter(torch.randn(1, 1 + text_len, d) * 0.02)  # CLS and text
            if not cfg.blind:
                self.frame_pos = nn.Parameter(torch.randn(1 if self.tracks else num_frames, 1, d) * 0.02)
                self.slot_pos = nn.Parameter(torch.randn(1, num_slots, d) * 0.02)
            if self.relations:
                self.pair_pos = nn.Parameter(torch.randn(1, 1, d) * 0.02)  # one for every pair: no pair identity
        # nn.TransformerEncoder's pre-LN function and parameter names, one fused attention call per layer
        self.encoder = Encoder(d, cfg.heads, cfg.ffn, cfg.dropout, cfg.layers)
        answer_in = d + (d + 1 if self.select_head else 0) + (1 if self.collision_in is not None else 0)
        self.answer_head = _mlp(answer_in, cfg.head_hidden, num_answers)  # CLS (++ selected) (++ collision count)
        self.choice_head = _mlp(2 * d if self.pair_head else d, cfg.head_hidden, 1)  # CLS (++ the named pair)

    def set_input_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-feature statistics [D] used when `input_norm` is `standardize`."""
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp_min(1e-3))

    def _positions(self) -> torch.Tensor:
        """[1, 1 + F*K + L, d] (blind: [1, 1 + L, d])."""
        if self.cfg.positions == "joint" or self.cfg.blind:
            return self.pos
        visual = (self.frame_pos + self.slot_pos).reshape(1, -1, self.pos.shape[-1])  # [1, F*K or K, d]
        if self.relations:
            visual = torch.cat([visual, self.pair_pos.expand(1, self.pair_index.shape[1], -1)], 1)  # [1, K + P, d]
        return torch.cat([self.pos[:, :1], visual, self.pos[:, 1:]], 1)

    def visual_tokens(self, slots: torch.Tensor, presence: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """slots [N, F, K, D], presence [N, F, K] -> (visual tokens [N, V, d] before positions, their presence
        [N, F or 1, V / F] (V = F*K, or K object tracks, + P pairs with relation tokens), the standardised frame x
        slot features [N, F*K, D] or None)."""
        return self._visual(slots, presence)[:3]

    def _visual(self, slots: torch.Tensor, presence: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """`visual_tokens` and the relation tokens' frame scores [N, F, P] (relation_time; else None)."""
        n = slots.shape[0]
        score = None
        if self.cfg.input_norm == "standardize":
            slots = (slots - self.feat_mean) / self.feat_std
        if self.tracks:
            track = self._tracks(slots, presence)  # [N, K, F*(D+1)]
            vis = self.vision_in(torch.cat([track, track.new_tensor([0.0, 1.0]).expand(n, self.num_slots, 2)], -1))
            seen = presence.any(1, keepdim=True)  # [N, 1, K]: a track seen in no frame is masked
            if self.relations:
                a, b = self.pair_index
                if self.cfg.relation_tokens == "track":
                    pairs = (self.relation_in(torch.cat([track[:, a], track[:, b]], -1))
                             + self.relation_in(torch.cat([track[:, b], track[:, a]], -1)))  # [N, P, d]
                    both = seen[..., a] & seen[..., b]  # [N, 1, P]
                else:
                    per, together = self._pair_frames(slots, presence)  # [N, F, P, d], [N, F, P]
                    both = together.any(1, keepdim=True)  # [N, 1, P]
                    pairs = per.masked_fill(~together[..., None], torch.finfo(per.dtype).min).amax(1)  # [N, P, d]
                    if self.cfg.relation_time:
                        scored = per.detach() if self.cfg.relation_time_target == "score" else per
                        score = self._when_scores(scored, together)  # [N, F, P]
                        weight = torch.softmax(score, 1).masked_fill(~together, 0.0)  # [N, F, P]
                        pairs = pairs + torch.einsum("nfp,fd->npd", weight, self.relation_frame.to(per.dtype))
                    pairs = torch.where(both.transpose(1, 2), pairs, torch.zeros_like(pairs))  # [N, P, d]
                vis = torch.cat([vis, pairs], 1)  # [N, K + P, d]
                seen = torch.cat([seen, both], -1)  # [N, 1, K + P]
            return vis, seen, None, score
        flat = slots.flatten(1, 2)  # [N, F*K, D]
        vis = self.vision_in(torch.cat([flat, flat.new_tensor([0.0, 1.0]).expand(n, flat.shape[1], 2)], -1))
        return vis, presence, flat, None

    def _pair_frames(self, slots: torch.Tensor, presence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """slots [N, F, K, D] (already standardised), presence [N, F, K] -> (the pair MLP at every frame, both orders
        summed [N, F, P, d]; whether both slots are present [N, F, P])."""
        a, b = self.pair_index
        present = presence.to(slots.dtype)[..., None]  # [N, F, K, 1]
        frame = torch.cat([slots * present, present], -1)  # [N, F, K, D+1]
        per = (self.relation_in(torch.cat([frame[:, :, a], frame[:, :, b]], -1))
               + self.relation_in(torch.cat([frame[:, :, b], frame[:, :, a]], -1)))  # [N, F, P, d]
        return per, presence[:, :, a] & presence[:, :, b]

    def _when_scores(self, per: torch.Tensor, together: torch.Tensor) -> torch.Tensor:
        """per [N, F, P, d], together [N, F, P] -> each pair's score of each frame [N, F, P] (relation_time), the
        dtype's minimum where the two are not both seen: the logits of its weights over the frames."""
        return self.relation_when(per).squeeze(-1).masked_fill(~together, torch.finfo(per.dtype).min)

    def relation_frame_weights(self, slots: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        """slots [N, F, K, D] (raw), presence [N, F, K] -> the weights over frames [N, F, P] whose frame embeddings a
        pair token adds (aloe.relation_time): which frame the model takes for the time of the pair's event."""
        if not (self.relations and self.cfg.relation_time):  # relation_time implies relation_tokens=frames
            raise ValueError("relation_frame_weights needs aloe.relation_tokens=frames and aloe.relation_time")
        if self.cfg.input_norm == "standardize":
            slots = (slots - self.feat_mean) / self.feat_std
        per, together = self._pair_frames(slots, presence)  # [N, F, P, d], [N, F, P]
        return torch.softmax(self._when_scores(per, together), 1).masked_fill(~together, 0.0)

    @staticmethod
    def _tracks(slots: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        """slots [N, F, K, D] (already standardised), presence [N, F, K] -> each slot's track [N, K, F*(D+1)]: every
        frame's features, zero where absent, and its presence flag."""
        present = presence.to(slots.dtype)[..., None]  # [N, F, K, 1]
        return torch.cat([slots * present, present], -1).transpose(1, 2).flatten(2)

    def named_pair(self, slots: torch.Tensor, presence: torch.Tensor, mention_logits: torch.Tensor) -> torch.Tensor:
        """slots [N, F, K, D] (raw), presence [N, F, K], mention_logits [N, K] -> the pair head's summary [N, d]: the
        mean of the pair MLP over slot pairs (a, b), weighted by p_a * p_b (p = sigmoid of the mention logit, 0 for a
        slot seen in no frame), divided by the total weight or 1, whichever is larger."""
        if self.cfg.input_norm == "standardize":
            slots = (slots - self.feat_mean) / self.feat_std
        track = self._tracks(slots, presence)  # [N, K, F*(D+1)]
        a, b = self.pair_index
        pair = self.pair_in(torch.cat([(track[:, a] - track[:, b]).abs(), track[:, a] + track[:, b]], -1))  # [N, P, d]
        p = torch.sigmoid(mention_logits.to(pair.dtype)) * presence.any(1).to(pair.dtype)  # [N, K]
        w = p[:, a] * p[:, b]  # [N, P]
        return (w[..., None] * pair).sum(1) / w.sum(1, keepdim=True).clamp_min(1.0)  # [N, d]

    def selected(self, slots: torch.Tensor, presence: torch.Tensor, mention_logits: torch.Tensor) -> torch.Tensor:
        """slots [N, F, K, D] (raw), presence [N, F, K], mention_logits [N, K] -> the select head's summary [N, d + 1]:
        the mean of the track MLP over slots weighted by p (p = sigmoid of the mention logit, 0 for a slot seen in no
        frame), divided by the total weight or 1, whichever is larger, and the total weight (a soft count)."""
        if self.cfg.input_norm == "standardize":
            slots = (slots - self.feat_mean) / self.feat_std
        each = self.select_in(self._tracks(slots, presence))  # [N, K, d]
        p = torch.sigmoid(mention_logits.to(each.dtype)) * presence.any(1).to(each.dtype)  # [N, K]
        total = p.sum(1, keepdim=True)  # [N, 1]
        return torch.cat([(p[..., None] * each).sum(1) / total.clamp_min(1.0), total], -1)  # [N, d + 1]

    def forward(self, slots: torch.Tensor | None, text: torch.Tensor, segment: torch.Tensor,
                presence: torch.Tensor | None = None, approach: torch.Tensor | None = None,
                mention: torch.Tensor | None = None, collision: torch.Tensor | None = None,
                when: torch.Tensor | None = None) -> AloeOutput:
        """slots [N, F, K, D] (ignored when blind); text [N, L] token ids (0 = padding);
        segment [N, L] 0 for question tokens of a multiple-choice pass, 1 otherwise;
        presence [N, F, K] bool (None: every slot present; ignored unless `use_presence`);
        approach [N, P] closest approach of each slot pair (NaN: unknown), regressed from the relation tokens;
        mention [N, K] 1/0 whether the pass's choice names each slot's object (NaN: unknown), from the track tokens;
        collision [N, P] 1/0 whether the question rests on each slot pair's collision (NaN: unknown), from the
        relation tokens; when [N, P] the window frame of each pair's collision (-1: none or unknown), the target of
        the relation tokens' frame scores (relation_time)."""
        n, length = text.shape
        if length != self.text_len:
            raise ValueError(f"text has {length} tokens, the model was built for {self.text_len}")
        words = self.word(text)  # [N, L, E]
        seg = F.one_hot(segment.long(), 2).to(words.dtype)  # [N, L, 2]
        modality = words.new_tensor([1.0, 0.0]).expand(n, length, 2)
        tokens = [self.cls.expand(n, -1, -1)]
        pad = [text.new_zeros(n, 1, dtype=torch.bool)]
        mask_loss = words.new_zeros(())
        when_loss = words.new_zeros(())
        masked = None
        if not self.cfg.blind:
            if slots is None:
                raise ValueError("a visual model needs slots; blind mode is aloe.blind=true")
            if slots.shape[1:] != (self.num_frames, self.num_slots, self.slot_dim):
                raise ValueError(f"slots {list(slots.shape)}, the model was built for "
                                 f"[N, {self.num_frames}, {self.num_slots}, {self.slot_dim}]")
            if presence is None or not self.cfg.use_presence:
                presence = torch.ones(slots.shape[:3], dtype=torch.bool, device=slots.device)  # [N, F, K]
            if self.training and self.cfg.shuffle_objects:
                perm = torch.argsort(torch.rand(n, self.num_slots, device=slots.device), dim=1)  # [N, K]
                slots = torch.gather(slots, 2, perm[:, None, :, None].expand_as(slots))
                presence = torch.gather(presence, 2, perm[:, None, :].expand_as(presence))
            slot_presence = presence  # [N, F, K] (the pair head's)
            vis, presence, flat, score = self._visual(slots, presence)
            if when is not None and score is not None:
                logits = score.transpose(1, 2).float()  # [N, P, F]
                at = logits.gather(2, when.clamp_min(0)[..., None])[..., 0]  # [N, P] the target frame's score
                known = (when >= 0) & (at > torch.finfo(score.dtype).min)  # a collision at a frame both are seen
                when_loss = (F.cross_entropy(logits[known], when[known]) if known.any()
                             else self.relation_when.weight.sum() * 0.0)
            if self.training and self.cfg.mask_slot_weight > 0:
                pick = torch.randint(0, self.num_slots, (n, self.num_frames), device=slots.device)  # [N, F]
                # [N, F*K], present only
                masked = F.one_hot(pick, self.num_slots).bool().flatten(1) & presence.flatten(1)
                vis = torch.where(masked[..., None], self.mask_token.to(vis.dtype), vis)
            tokens.append(vis)
            pad.append(~presence.flatten(1))
        tokens.append(self.text_in(torch.cat([words, seg, modality], -1)))  # [N, L, d]
        pad.append(text == 0)
        x = torch.cat(tokens, 1) + self._positions()  # [N, S, d], S = 1 + F*K + L
        pad = torch.cat(pad, 1)  # [N, S] True = ignored
        keep = None
        if self.trim and masked is None and approach is None and mention is None and collision is None:
            keep = ~pad.all(0)  # [S] columns some pass attends to (CLS is always kept)
            if bool(keep.all()):
                keep = None
            else:
                x, pad = x[:, keep], pad[:, keep]
        h = self.encoder(x, src_key_padding_mask=pad)
        cls = h[:, 0]  # [N, d]
        if masked is not None:
            pred = self.mask_out(h[:, 1:1 + flat.shape[1]][masked])  # [N*F, D]
            mask_loss = F.mse_loss(pred.float(), flat[masked].float()) if masked.any() else pred.sum() * 0.0
        approach_loss = words.new_zeros(())
        if approach is not None and self.approach_head is not None:
            k = self.num_slots
            pred = self.approach_head(h[:, 1 + k:1 + k + approach.shape[1]]).squeeze(-1).float()  # [N, P]
            known = torch.isfinite(approach)
            approach_loss = (F.smooth_l1_loss(pred[known], approach[known].float()) if known.any()
                             else pred.sum() * 0.0)
        mention_loss = words.new_zeros(())
        logits = None
        full = h
        if keep is not None and (self.mention_head is not None or self.collision_in is not None):
            full = h.new_zeros(n, keep.shape[0], h.shape[-1])  # trimmed: the kept columns back in place (a dropped
            full[:, keep] = h  # slot or pair is absent everywhere)
        if self.mention_head is not None and (mention is not None or self.pair_head or self.select_head):
            logits = self.mention_head(full[:, 1:1 + self.num_slots]).squeeze(-1).float()  # [N, K]
        if mention is not None and logits is not None:
            known = torch.isfinite(mention) & presence.flatten(1)[:, :self.num_slots]  # present slots only
            mention_loss = (F.binary_cross_entropy_with_logits(logits[known], mention[known].float()) if known.any()
                            else logits.sum() * 0.0)
        choice_in = cls
        if self.pair_head:
            choice_in = torch.cat([cls, self.named_pair(slots, slot_presence, logits).to(cls.dtype)], -1)  # [N, 2d]
        answer_in = cls
        if self.select_head:
            picked = self.selected(slots, slot_presence, logits).to(cls.dtype)  # [N, d + 1]
            answer_in = torch.cat([cls, picked], -1)  # [N, 2d + 1]
        collision_loss = words.new_zeros(())
        if self.collision_in is not None:
            k, p = self.num_slots, self.pair_index.shape[1]
            pair_logits = self.collision_in(full[:, 1 + k:1 + k + p]).squeeze(-1).float()  # [N, P]
            pair_seen = presence.flatten(1)[:, k:k + p]  # [N, P] both objects seen
            count = (torch.sigmoid(pair_logits) * pair_seen).sum(1, keepdim=True)  # [N, 1]
            answer_in = torch.cat([answer_in, count.to(cls.dtype)], -1)  # [N, ... + 1]
            if collision is not None:
                known = torch.isfinite(collision) & pair_seen
                collision_loss = (F.binary_cross_entropy_with_logits(pair_logits[known], collision[known].float())
                                  if known.any() else pair_logits.sum() * 0.0)
        return AloeOutput(answer_logits=self.answer_head(answer_in),
                          choice_logits=self.choice_head(choice_in).squeeze(-1), mask_loss=mask_loss,
                          approach_loss=approach_loss, mention_loss=mention_loss, collision_loss=collision_loss,
                          when_loss=when_loss)
