// Grouped bar chart (median rps per test and target, min–max whiskers), one panel per
// concurrency/pipeline condition: a Vega-Lite spec rendered to SVG with vega in Node.
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

export function chartSpec(rows, { targets, conds, tests, title }) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, anchor: 'start', fontSize: 14 },
    data: { values: rows },
    facet: {
      row: {
        field: 'condLabel', type: 'nominal', sort: conds, title: null,
        header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top', labelFontSize: 12, labelFontWeight: 'bold' },
      },
    },
    spec: {
      width: 760,
      height: 170,
      layer: [
        {
          mark: { type: 'bar', tooltip: true },
          encoding: {
            x: { field: 'test', type: 'nominal', sort: tests, title: null, axis: { labelAngle: 0 } },
            xOffset: { field: 'targetLabel', type: 'nominal', sort: targets },
            y: { field: 'median', type: 'quantitative', title: 'requests/s (median)', axis: { format: '~s' } },
            color: { field: 'targetLabel', type: 'nominal', sort: targets, title: null, scale: { scheme: 'tableau10' } },
          },
        },
        {
          mark: { type: 'rule', color: '#222', strokeWidth: 1 },
          encoding: {
            x: { field: 'test', type: 'nominal', sort: tests },
            xOffset: { field: 'targetLabel', type: 'nominal', sort: targets },
            y: { field: 'min', type: 'quantitative' },
            y2: { field: 'max' },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    config: { legend: { orient: 'top', direction: 'horizontal', labelLimit: 400, columns: 5 }, view: { stroke: null } },
  };
}

export async function renderSvg(spec) {
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
