// Sort a table.sortable by the column whose header is clicked (again: reverse). Numbers sort by
// the cell's data-value (the raw score), empty cells last; with upload.js, one of the pages' two scripts.
"use strict";
(function () {
  function key(cell, numeric) {
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    return raw === "" ? null : Number(raw);
  }
  function sortBy(table, index, numeric, descending) {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).filter((r) => r.cells.length > index);
    rows.sort((a, b) => {
      const x = key(a.cells[index], numeric);
      const y = key(b.cells[index], numeric);
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (descending ? -1 : 1);
    });
    rows.forEach((r) => body.appendChild(r));
  }
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead th").forEach((th, index) => {
      th.classList.add("sort-handle");
      th.addEventListener("click", () => {
        const descending = th.getAttribute("aria-sort") === "ascending";
        table.querySelectorAll("thead th").forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        sortBy(table, index, th.dataset.type === "number", descending);
      });
    });
  });
})();
