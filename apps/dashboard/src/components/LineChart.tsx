import { linePath, niceCeiling } from "../lib/chart";

export interface Series {
  name: string;
  values: (number | null)[];
  className: string;
}

const WIDTH = 300;
const HEIGHT = 90;

/** A small SVG line chart (no chart library for two lines); the legend names each series and its latest value. */
export function LineChart({ title, series, format }: { title: string; series: Series[]; format: (value: number) => string }) {
  const max = niceCeiling(Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null))));
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label={`${title}, axis up to ${format(max)}`}>
        <line x1="0" y1={HEIGHT} x2={WIDTH} y2={HEIGHT} className="chart-axis" />
        {series.map((s) => (
          <path key={s.name} d={linePath(s.values, WIDTH, HEIGHT, max)} className={`chart-line ${s.className}`} vectorEffect="non-scaling-stroke" />
        ))}
      </svg>
      <div className="chart-legend">
        <span className="muted">max {format(max)}</span>
        {series.map((s) => (
          <span key={s.name} className={`legend ${s.className}`}>
            {s.name}
          </span>
        ))}
      </div>
    </figure>
  );
}
