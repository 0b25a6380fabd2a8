"""Reading the existing Jekyll archive into finews (``make import SRC=…``).

* :mod:`.oldpost` — one old post file read, tolerant of every shape the old
  archive holds (front matter, body, footers, share and legacy links);
* :mod:`.convert` — an old post becomes a finews row, post and WARC record
  (through the crawl's own clean and Markdown stages);
* :mod:`.records` — the WARC ``resource`` records of the original files;
* :mod:`.run` — the import: files found and grouped, work in worker
  processes, rows written in batches, progress and the closing report;
* :mod:`.rebuild` — what ``make rebuild`` does with the imported records.
"""
