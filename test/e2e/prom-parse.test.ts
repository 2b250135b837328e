import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { PromParseError, parsePrometheus, sampleValue } from './prom-parse.js';

const GOOD = `# HELP vv_up 1 when up.\\nSecond line with \\\\ backslash.
# TYPE vv_up gauge
vv_up{host="a"} 1
vv_up{host="b\\"q\\\\\\n",zone="x",} 0 1700000000000
# a plain comment
# TYPE vv_lat histogram
vv_lat_bucket{le="+Inf"} 3
vv_lat_sum 1.5e-3
vv_lat_count 3
# TYPE vv_nan untyped
vv_nan NaN
vv_nan{k="v"} -Inf
`;

describe('parsePrometheus', () => {
  it('reads families, unescapes labels and help, and finds samples', () => {
    const m = parsePrometheus(GOOD);
    assert.deepEqual([...m.keys()], ['vv_up', 'vv_lat', 'vv_nan']);
    assert.equal(m.get('vv_up')?.help, '1 when up.\nSecond line with \\ backslash.');
    assert.deepEqual(m.get('vv_up')?.samples[1], {
      name: 'vv_up',
      labels: { host: 'b"q\\\n', zone: 'x' },
      value: 0,
      timestamp: 1700000000000,
    });
    assert.equal(sampleValue(m, 'vv_lat_sum'), 0.0015);
    assert.equal(sampleValue(m, 'vv_lat_bucket', { le: '+Inf' }), 3);
    assert.equal(sampleValue(m, 'vv_nan', { k: 'v' }), -Infinity);
    assert.ok(Number.isNaN(m.get('vv_nan')?.samples[0]?.value));
    assert.throws(() => sampleValue(m, 'vv_up'), /2 samples/, 'ambiguous lookups fail');
    assert.throws(() => sampleValue(m, 'vv_up', { host: 'z' }), /0 samples/);
  });

  const bad: [string, string, RegExp][] = [
    ['sample before TYPE', 'vv_x 1\n', /no TYPE line/],
    ['bad metric name', '# TYPE 1x gauge\n', /bad metric name/],
    ['bad label name', '# TYPE x gauge\nx{1a="v"} 1\n', /bad label name/],
    ['reserved label', '# TYPE x gauge\nx{__name__="v"} 1\n', /reserved/],
    ['duplicate label', '# TYPE x gauge\nx{a="1",a="2"} 1\n', /duplicate label/],
    ['bad escape', '# TYPE x gauge\nx{a="\\t"} 1\n', /bad escape/],
    ['unquoted value', '# TYPE x gauge\nx{a=1} 1\n', /quoted/],
    ['unterminated value', '# TYPE x gauge\nx{a="1} 1\n', /unterminated|expected/],
    ['bad float', '# TYPE x gauge\nx 1,5\n', /bad sample value/],
    ['missing value', '# TYPE x gauge\nx\n', /bad sample value|expected/],
    ['bad timestamp', '# TYPE x gauge\nx 1 1.5\n', /bad timestamp/],
    ['bad type', '# TYPE x meter\n', /bad type/],
    ['second TYPE', '# TYPE x gauge\n# TYPE x gauge\n', /second TYPE/],
    ['second HELP', '# HELP x a\n# HELP x b\n', /second HELP/],
    ['duplicate series', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n', /duplicate series/],
    ['split family', '# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a="2"} 1\n', /not kept together/],
    ['_bucket on a gauge', '# TYPE x gauge\nx_bucket{le="1"} 1\n', /no TYPE line/],
    ['no final newline', '# TYPE x gauge\nx 1', /newline/],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => parsePrometheus(text),
        (e: unknown) => e instanceof PromParseError && message.test(e.message),
      );
    });
  }
});
