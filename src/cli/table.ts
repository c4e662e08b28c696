/** A plain-text table with a header row, columns padded to their widest cell (fail2ban-client style). */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** fail2ban-client's tree: `|- key: value` lines, the last one with a backquote. */
export function renderTree(title: string, sections: Array<[string, Array<[string, string]>]>): string {
  const lines = [title];
  sections.forEach(([name, entries], sectionIndex) => {
    const lastSection = sectionIndex === sections.length - 1;
    lines.push(`${lastSection ? '`-' : '|-'} ${name}`);
    const keyWidth = Math.max(...entries.map(([key]) => key.length)) + 1;
    entries.forEach(([key, value], entryIndex) => {
      const branch = entryIndex === entries.length - 1 ? '`-' : '|-';
      lines.push(`${lastSection ? '   ' : '|  '}${branch} ${`${key}:`.padEnd(keyWidth)}\t${value}`);
    });
  });
  return lines.join('\n');
}

/** fail2ban-client's flat form: `|- key: value`, the last entry with a backquote. */
export function renderList(title: string, entries: Array<[string, string]>): string {
  const keyWidth = Math.max(...entries.map(([key]) => key.length)) + 1;
  return [
    title,
    ...entries.map(
      ([key, value], index) =>
        `${index === entries.length - 1 ? '`-' : '|-'} ${`${key}:`.padEnd(keyWidth)}\t${value}`,
    ),
  ].join('\n');
}
