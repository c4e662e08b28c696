"""Runs fail2ban's own sample test (tests/samplestestcase.py of the installed package) for the filters
named on the command line and prints, as JSON lines, every sample line it feeds to a filter: the
filter options (test.* keys removed, as fail2ban passes them), the line, and the address fail2ban's
filter extracted from it (null when the line did not count). lokiban's corpus parser is checked
against this record."""
import json
import sys
import unittest

from fail2ban.tests import samplestestcase
from fail2ban.tests.utils import DefaultTestOptions, initTests

opts = DefaultTestOptions()
opts.verbosity = 0
opts.log_level = 100
opts.log_lazy = True
opts.fast = True
opts.no_network = True
opts.no_gamin = True
initTests(opts)

current = {}
original = samplestestcase.FilterSamplesRegex._readFilter


def read_filter(self, fltName, name, basedir, opts=None):
    cached = fltName in self._filters
    flt = original(self, fltName, name, basedir, opts=opts)
    if not cached:
        options = json.dumps(opts or {}, sort_keys=True)
        process = flt[0].processLine

        def recording(line, date=None):
            text = line[2] if isinstance(line, tuple) else line
            ret = process(line, date) if date is not None else process(line)
            host = None
            for failregex, fid, _time, fail in ret or []:
                if fid is None or fail.get('nofail'):
                    continue
                host = str(fail.get('host') or fid)
            print(json.dumps({'filter': name, 'options': options, 'line': text, 'host': host}))
            return ret

        flt[0].processLine = recording
    return flt


samplestestcase.FilterSamplesRegex._readFilter = read_filter
suite = unittest.TestSuite(
    samplestestcase.FilterSamplesRegex('testSampleRegexs%s' % name.upper()) for name in sys.argv[1:]
)
result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
