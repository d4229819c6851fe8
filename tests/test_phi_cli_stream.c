/*
 * Tests of `medseal scrub --json` and `--jsonl` on inputs of a few MiB, which they now read and
 * scrub in pieces (the input is never held whole, results are held in exact-size blocks until
 * the end): every span's offsets index the original input and the output text, the output text
 * is the plain mode's output byte for byte, and a bad --jsonl line at the end still means
 * nothing is written. The check runs in /usr/bin/python3 (offsets are bytes of UTF-8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medseal/core.h"
#include "test.h"

static const char STREAM_PY[] =
    "import json, subprocess, sys\n"
    "med, d = sys.argv[1], sys.argv[2]\n"
    "parts = []\n"
    "for k in range(18000):\n"
    "    parts.append('NPN 7p-7a: pt seen by Dr. Okafor, wife Helga Lindgren at bedside, BP '\n"
    "                 '118/62, call 617-555-%04d. Seen \\uff2a\\uff4f\\uff48\\uff4e Lindgren '\n"
    "                 'on 03/14/2023, T 38.5\\u00b0C \\u00bd dose.\\n\\n' % (k % 10000))\n"
    "text = ''.join(parts).encode('utf-8')\n"
    "assert len(text) > 2 << 20\n"
    "open(d + '/in.txt', 'wb').write(text)\n"
    "plain = subprocess.run([med, 'scrub'], stdin=open(d + '/in.txt', 'rb'),\n"
    "                       capture_output=True, check=True).stdout\n"
    "js = subprocess.run([med, 'scrub', '--json'], stdin=open(d + '/in.txt', 'rb'),\n"
    "                    capture_output=True, check=True).stdout\n"
    "o = json.loads(js)\n"
    "out = o['text'].encode('utf-8')\n"
    "assert out == plain, 'json text differs from plain output'\n"
    "pos = opos = 0\n"
    "for s in o['spans']:\n"
    "    assert s['start'] >= pos and s['out_start'] >= opos\n"
    "    assert text[pos:s['start']] == out[opos:s['out_start']], 'bytes between spans'\n"
    "    assert out[s['out_start']:s['out_end']] == ('[%s]' % s['class']).encode()\n"
    "    pos, opos = s['end'], s['out_end']\n"
    "assert text[pos:] == out[opos:]\n"
    "assert o['counts']['NAME'] >= 18000 * 3 and len(o['spans']) > 80000\n"
    "assert b'Lindgren' not in out and b'Okafor' not in out and b'617-555' not in out\n"
    "lines = [json.dumps({'text': p}) for p in parts]\n"
    "open(d + '/in.jsonl', 'w').write('\\n'.join(lines) + '\\n')\n"
    "jl = subprocess.run([med, 'scrub', '--jsonl'], stdin=open(d + '/in.jsonl'),\n"
    "                    capture_output=True, check=True).stdout.decode().splitlines()\n"
    "assert len(jl) == len(parts)\n"
    "for k in (0, 9000, 17999):\n"
    "    r = json.loads(jl[k])\n"
    "    assert 'Lindgren' not in r['text'] and r['spans'][0]['start'] > 0\n"
    "open(d + '/bad.jsonl', 'w').write('\\n'.join(lines) + '\\n{\"txt\": 1}\\n')\n"
    "b = subprocess.run([med, 'scrub', '--jsonl'], stdin=open(d + '/bad.jsonl'),\n"
    "                   capture_output=True)\n"
    "assert b.returncode == 1 and b.stdout == b'' and b'line 18001' in b.stderr\n"
    "print('ok')\n";

TEST(test_phi_cli_json_jsonl_pieces)
{
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("medseal binary not built");
    const char *d = ms_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/stream.py", d);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(STREAM_PY, f);
    fclose(f);
    char *out = NULL;
    int rc = ms_test_sh(&out, "/usr/bin/python3 %s %s %s", path, ms_test_medseal(), d);
    if (rc != 0)
        fprintf(stderr, "  %s\n", out ? out : "");
    CHECK(rc == 0 && out != NULL && strstr(out, "ok") != NULL);
    free(out);
    return 0;
}
