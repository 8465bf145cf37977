/** A round upper bound for a chart's axis: 1, 2 or 5 times a power of ten, at least `max`. */
export function niceCeiling(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/**
 * An SVG path through the values, left to right across `width`, 0 at the bottom of `height` and `top`
 * at the top. A null value (no data that minute) breaks the line rather than drawing a false zero; a
 * point with no neighbour is drawn as a zero-length segment, which a round line cap shows as a dot.
 */
export function linePath(values: readonly (number | null)[], width: number, height: number, top: number): string {
  if (values.length === 0) return "";
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  let path = "";
  let drawing = false;
  values.forEach((value, i) => {
    if (value === null) {
      drawing = false;
      return;
    }
    const x = Math.round(i * step * 100) / 100;
    const y = Math.round((height - (Math.min(value, top) / top) * height) * 100) / 100;
    const isolated = !drawing && (values[i + 1] ?? null) === null;
    path += drawing ? `L${x},${y}` : isolated ? `M${x},${y}L${x},${y}` : `M${x},${y}`;
    drawing = true;
  });
  return path;
}
