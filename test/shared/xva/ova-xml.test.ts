// ova.xml encode/decode: xapi's exact layout for the header, leniency for what older exports wrote.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiError } from '../../../src/shared/errors.js';
import {
  assertCompatibleVersion,
  berthOvaVersion,
  decodeOvaXml,
  disksOfOva,
  encodeOvaXml,
  encodeXmlValue,
} from '../../../src/shared/xva/ova-xml.js';

test('encodes the header as ocaml-rpc writes it: no declaration, no whitespace, members in order', () => {
  const v = { ...berthOvaVersion(new Date('2026-01-02T03:04:05Z')), product_version: '0.1.0' };
  const xml = encodeOvaXml(v, [
    {
      cls: 'VM',
      id: 'Ref:0',
      snapshotXml:
        '<value><struct><member><name>name_label</name><value>a&lt;b</value></member></struct></value>',
    },
  ]);
  assert.equal(
    xml,
    '<value><struct><member><name>version</name><value><struct>' +
      '<member><name>hostname</name><value>localhost</value></member>' +
      '<member><name>date</name><value>2026-01-02</value></member>' +
      '<member><name>product_version</name><value>0.1.0</value></member>' +
      '<member><name>product_brand</name><value>Berth</value></member>' +
      '<member><name>build_number</name><value></value></member>' +
      '<member><name>xapi_major</name><value>1</value></member>' +
      '<member><name>xapi_minor</name><value>0</value></member>' +
      '<member><name>export_vsn</name><value>2</value></member>' +
      '</struct></value></member><member><name>objects</name><value><array><data>' +
      '<value><struct><member><name>class</name><value>VM</value></member>' +
      '<member><name>id</name><value>Ref:0</value></member>' +
      '<member><name>snapshot</name><value><struct><member><name>name_label</name><value>a&lt;b</value></member></struct></value></member>' +
      '</struct></value></data></array></value></member></struct></value>',
  );
  const back = decodeOvaXml(xml);
  assert.deepEqual(back.version, v);
  assert.equal(back.objects[0].cls, 'VM');
  assert.equal(
    encodeXmlValue(back.objects[0].snapshot),
    back.objects[0].snapshot &&
      xml.match(/<member><name>snapshot<\/name>(.*)<\/member><\/struct><\/value><\/data>/)![1],
  );
});

test('decodes tagged ints and a missing export_vsn as 0 (pre-Rio exports)', () => {
  const xml = `<?xml version="1.0"?>
  <value><struct>
    <member><name>version</name><value><struct>
      <member><name>hostname</name><value><string>h</string></value></member>
      <member><name>date</name><value>d</value></member>
      <member><name>product_version</name><value>4.1.0</value></member>
      <member><name>product_brand</name><value>XenServer</value></member>
      <member><name>build_number</name><value>1</value></member>
      <member><name>xapi_major</name><value><i4>1</i4></value></member>
      <member><name>xapi_minor</name><value><int>1</int></value></member>
    </struct></value></member>
    <member><name>objects</name><value><array><data/></array></value></member>
  </struct></value>`;
  const h = decodeOvaXml(xml.replace(/^<\?xml[^>]*\?>\s*/, ''));
  assert.equal(h.version.export_vsn, 0);
  assert.equal(h.version.xapi_minor, 1);
});

test('malformed headers are IMPORT_ERROR; a newer xapi is IMPORT_INCOMPATIBLE_VERSION', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof XenApiError ? e.code : String(e);
    }
    return 'ok';
  };
  assert.equal(
    code(() => decodeOvaXml('<value><array><data/></array></value>')),
    'IMPORT_ERROR',
  );
  assert.equal(
    code(() => decodeOvaXml('not xml')),
    'IMPORT_ERROR',
  );
  assert.equal(
    code(() => decodeOvaXml('<!DOCTYPE x [<!ENTITY a "b">]><value>&a;</value>')),
    'IMPORT_ERROR',
  );
  assert.equal(
    code(() => assertCompatibleVersion({ xapi_major: 25, xapi_minor: 3 }, { xapi_major: 25, xapi_minor: 2 })),
    'IMPORT_INCOMPATIBLE_VERSION',
  );
  assert.equal(
    code(() => assertCompatibleVersion({ xapi_major: 1, xapi_minor: 0 }, { xapi_major: 25, xapi_minor: 2 })),
    'ok',
  );
});

test('disksOfOva: non-CD VBD disks off ISO SRs plus suspend VDIs, sorted as strings (Ref:10 < Ref:2)', () => {
  const st = (m: Record<string, string>) =>
    `<value><struct>${Object.entries(m)
      .map(([k, v]) => `<member><name>${k}</name><value>${v}</value></member>`)
      .join('')}</struct></value>`;
  const o = (cls: string, id: string, m: Record<string, string>) => ({ cls, id, snapshotXml: st(m) });
  const xml = encodeOvaXml(berthOvaVersion(), [
    o('SR', 'Ref:1', { content_type: 'user' }),
    o('SR', 'Ref:3', { content_type: 'iso' }),
    o('VDI', 'Ref:2', { SR: 'Ref:1', virtual_size: '100', type: 'user' }),
    o('VDI', 'Ref:10', { SR: 'Ref:1', virtual_size: '200', type: 'system' }),
    o('VDI', 'Ref:11', { SR: 'Ref:3', virtual_size: '300', type: 'user' }),
    o('VDI', 'Ref:12', { SR: 'Ref:1', virtual_size: '400', type: 'suspend' }),
    o('VDI', 'Ref:13', { SR: 'Ref:1', virtual_size: '500', type: 'user' }),
    o('VBD', 'Ref:20', { VDI: 'Ref:2', type: 'Disk' }),
    o('VBD', 'Ref:21', { VDI: 'Ref:10', type: 'Disk' }),
    o('VBD', 'Ref:22', { VDI: 'Ref:11', type: 'Disk' }),
    o('VBD', 'Ref:23', { VDI: 'Ref:13', type: 'CD' }),
  ]);
  assert.deepEqual(disksOfOva(decodeOvaXml(xml)), [
    { ref: 'Ref:10', virtualSize: 200 },
    { ref: 'Ref:12', virtualSize: 400 },
    { ref: 'Ref:2', virtualSize: 100 },
  ]);
});
