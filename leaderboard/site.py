"""`madata leaderboard build`: accepted submissions -> markdown tables and a static HTML site.

Layout of OUT (every link relative: the site works from the filesystem, no server):
  index.html, index.md                 the suites and their entries
  suites/<suite>.html, .md             normalized-score tables (aggregate and per dataset), plots
  submissions/<name>.html, .md         one entry's provenance and scores
  plots/<suite>-intervals.png, -profiles.png
The site is built in a temporary folder beside OUT and moved into place at the end.
"""

from __future__ import annotations

import html
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np

from baselines.aggregate import interval_estimates
from baselines.aggregate_plots import plot_intervals, plot_profiles
from leaderboard.submission import Submission
from madatasets.errors import MadataError

STYLE = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.25em .6em;"
         "text-align:left}th{background:#eee}img{max-width:100%;border:1px solid #ddd}code{font-size:90%}")
# Marks every image with the size it decoded to: 0 means it did not load (checked by the browser test).
IMAGE_CHECK = ("<script>window.addEventListener('load',function(){for(const i of document.images)"
               "{i.dataset.naturalWidth=i.naturalWidth;}document.body.dataset.loaded='yes';});</script>")


def matrix(submission: Submission) -> np.ndarray:
    """(seeds, suite datasets) normalized final scores of one submission."""
    scores: dict[str, dict[int, float]] = defaultdict(dict)
    for run in submission.results:
        scores[run["dataset"]["id"]][run["seed"]] = float(run["final"]["normalized"])
    seeds = sorted(submission.manifest["seeds"])
    return np.array([[scores[d][s] for d in submission.suite.dataset_ids] for s in seeds])


def _interval(values: tuple[float, float, float]) -> str:
    return f"{values[0]:.1f} [{values[1]:.1f}, {values[2]:.1f}]"


def suite_tables(entries: list[Submission], reps: int) -> tuple[list[list[str]], list[list[str]],
                                                                dict[str, np.ndarray]]:
    """(aggregate rows, per-dataset rows, {entry name: score matrix}), best aggregate IQM first."""
    matrices = {entry.manifest["name"]: matrix(entry) for entry in entries}
    estimates = interval_estimates(matrices, reps)
    order = sorted(entries, key=lambda e: -estimates[e.manifest["name"]]["iqm"][0])
    aggregate = []
    for rank, entry in enumerate(order, 1):
        name = entry.manifest["name"]
        values = estimates[name]
        aggregate.append([str(rank), name, entry.manifest["algorithm"]["label"],
                          f"{matrices[name].shape[0]} x {matrices[name].shape[1]}",
                          f"{matrices[name].mean():.1f} ± {matrices[name].mean(axis=1).std():.1f}",
                          _interval(values["iqm"]), _interval(values["median"]), _interval(values["optimality_gap"])])
    per_dataset = []
    for column, dataset_id in enumerate(order[0].suite.dataset_ids if order else []):
        single = {e.manifest["name"]: matrices[e.manifest["name"]][:, column:column + 1] for e in order}
        intervals = interval_estimates(single, reps)
        for entry in order:
            name = entry.manifest["name"]
            scores = single[name][:, 0]
            paper = entry.suite.paper_score(entry.manifest["algorithm"]["name"], dataset_id)
            per_dataset.append([dataset_id, name, str(scores.size), f"{scores.mean():.1f} ± {scores.std():.1f}",
                                _interval(intervals[name]["iqm"]),
                                f"{paper[0]:.1f} ± {paper[1]:.1f}" if paper else "-"])
    return aggregate, per_dataset, matrices


AGGREGATE_HEAD = ["rank", "entry", "algorithm", "seeds x datasets", "mean ± std (over seeds)", "IQM [95% CI]",
                  "median [95% CI]", "optimality gap [95% CI]"]
DATASET_HEAD = ["dataset", "entry", "seeds", "normalized score (mean ± std)", "IQM [95% CI]", "paper"]


def _markdown_table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] +
                     ["| " + " | ".join(row) + " |" for row in rows])


def _html_table(head: list[str], rows: list[list[str]], table_id: str,
                links: dict[str, str] | None = None) -> str:
    def cell(text: str) -> str:
        if links and text in links:
            return f'<a href="{html.escape(links[text])}">{html.escape(text)}</a>'
        return html.escape(text)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f'<table id="{table_id}"><thead><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in head) +
            f"</tr></thead><tbody>{body}</tbody></table>")


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}{IMAGE_CHECK}</body></html>\n")


def build_site(entries: list[Submission], out: str | Path, reps: int = 2000) -> Path:
    if not entries:
        raise MadataError("no accepted submissions to build; add one with `madata leaderboard submit PATH --accept`")
    out = Path(out)
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    for folder in ("suites", "submissions", "plots"):
        (staging / folder).mkdir(parents=True)
    by_suite: dict[str, list[Submission]] = defaultdict(list)
    for entry in entries:
        by_suite[entry.suite.tag()].append(entry)
    index_rows = []
    for tag, members in sorted(by_suite.items()):
        suite = members[0].suite
        aggregate, per_dataset, matrices = suite_tables(members, reps)
        slug = tag.replace("@", "-v")
        plot_intervals(interval_estimates(matrices, reps), str(staging / "plots" / f"{slug}-intervals.png"))
        plot_profiles(matrices, str(staging / "plots" / f"{slug}-profiles.png"), min(reps, 500))
        links = {e.manifest["name"]: f"../submissions/{e.manifest['name']}.html" for e in members}
        protocol = suite.protocol
        about = (f"{suite.description} Protocol: {protocol.updates:,} updates (per dataset where the suite says), "
                 f"batch {protocol.batch_size or 'each algorithm’s own'}, evaluation every {protocol.eval_every:,} "
                 f"updates on {protocol.eval_episodes} episodes, seeds 0..{protocol.seeds - 1}, score = the final "
                 f"policy's normalized score (0 random, 100 expert).")
        (staging / "suites" / f"{slug}.md").write_text(
            f"# Suite {tag}\n\n{about}\n\n## Aggregate\n\n{_markdown_table(AGGREGATE_HEAD, aggregate)}\n\n"
            f"![intervals](../plots/{slug}-intervals.png)\n\n![profiles](../plots/{slug}-profiles.png)\n\n"
            f"## Per dataset\n\n{_markdown_table(DATASET_HEAD, per_dataset)}\n")
        (staging / "suites" / f"{slug}.html").write_text(_page(
            f"madata leaderboard: {tag}",
            f'<p><a href="../index.html">all suites</a></p><h1>Suite {html.escape(tag)}</h1>'
            f"<p>{html.escape(about)}</p><h2>Aggregate</h2>{_html_table(AGGREGATE_HEAD, aggregate, 'aggregate', links)}"
            f'<h2>Interval estimates</h2><img id="intervals" alt="interval estimates" '
            f'src="../plots/{slug}-intervals.png"><h2>Performance profiles</h2>'
            f'<img id="profiles" alt="performance profiles" src="../plots/{slug}-profiles.png">'
            f"<h2>Per dataset</h2>{_html_table(DATASET_HEAD, per_dataset, 'per-dataset', links)}"))
        for entry in members:
            _submission_page(staging, entry, slug, [r for r in per_dataset if r[1] == entry.manifest["name"]])
        index_rows.append([tag, str(len(members)), str(len(suite.datasets)), aggregate[0][1]])
    head = ["suite", "entries", "datasets", "best aggregate IQM"]
    links = {row[0]: f"suites/{row[0].replace('@', '-v')}.html" for row in index_rows}
    (staging / "index.md").write_text("# madata leaderboard\n\n" + _markdown_table(head, index_rows) + "\n")
    (staging / "index.html").write_text(_page("madata leaderboard", "<h1>madata leaderboard</h1>"
                                              "<p>Offline multi-agent RL results on madata's benchmark suites "
                                              "(docs/leaderboard.md).</p>" +
                                              _html_table(head, index_rows, "suites", links)))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out


def _submission_page(staging: Path, entry: Submission, slug: str, rows: list[list[str]]) -> None:
    m = entry.manifest
    facts = [["algorithm", f"{m['algorithm']['name']} {m['algorithm']['version']} (label {m['algorithm']['label']})"],
             ["code", f"{m['code']['url']} @ {m['code']['commit']}"],
             ["config", f"preset {m['config']['preset']}, critic {m['config']['critic']}, overrides "
                        f"{', '.join(m['config']['overrides']) or 'none'}"],
             ["suite", f"{m['suite']['name']}@{m['suite']['version']}"],
             ["seeds", ", ".join(map(str, m["seeds"]))],
             ["hardware", m["hardware"]["description"]],
             ["authors", ", ".join(a["name"] for a in m["authors"])],
             ["command", entry.results[0].get("command", "") or "-"]]
    facts += [[f"data {d['id']}", "card sha256 " + ", ".join(f"{k} {v[:12]}" for k, v in sorted(d["checksums"].items()))]
              for d in m["datasets"]]
    name = m["name"]
    (staging / "submissions" / f"{name}.md").write_text(
        f"# {name}\n\n{_markdown_table(['field', 'value'], facts)}\n\n{_markdown_table(DATASET_HEAD, rows)}\n")
    (staging / "submissions" / f"{name}.html").write_text(_page(
        f"madata leaderboard: {name}",
        f'<p><a href="../suites/{slug}.html">suite {html.escape(entry.suite.tag())}</a></p>'
        f"<h1>{html.escape(name)}</h1>{_html_table(['field', 'value'], facts, 'provenance')}"
        f"<h2>Scores</h2>{_html_table(DATASET_HEAD, rows, 'scores')}"))
