# gcp-storage-emulator plus what object_store's GCS client needs: ETag/Last-Modified on
# downloads and XML uploads, HEAD, XML ListObjectsV2, percent-encoded bucket names.
# (XML multipart uploads are not supported: keep GCS test writes to single PUTs.)
import sys
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import unquote as _unquote
from xml.sax.saxutils import escape
from gcp_storage_emulator import server
from gcp_storage_emulator.handlers import objects
from gcp_storage_emulator.__main__ import main

_orig_download, _orig_xml_upload = objects.download, objects.xml_upload

def _add_headers(request, response, storage):
    try:
        obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
    except Exception:
        return
    response["ETag"] = '"%s"' % (obj.get("etag") or obj.get("md5Hash") or obj.get("generation"))
    upd = obj.get("updated") or obj.get("timeCreated")
    if upd:
        try:
            dt = datetime.strptime(upd, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            response["Last-Modified"] = format_datetime(dt, usegmt=True)
        except ValueError:
            pass

def download(request, response, storage, *a, **kw):
    _orig_download(request, response, storage, *a, **kw)
    _add_headers(request, response, storage)

def xml_upload(request, response, storage, *a, **kw):
    _orig_xml_upload(request, response, storage, *a, **kw)
    _add_headers(request, response, storage)

def xml_list(request, response, storage, *a, **kw):
    q = {k: v[0] for k, v in request.query.items()}
    bucket = request.params["bucket_name"]
    try:
        objs, prefixes = storage.get_file_list(bucket, q.get("prefix") or None, q.get("delimiter") or None)
    except Exception:
        response.status = server.HTTPStatus.NOT_FOUND
        return
    out = ['<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://doc.s3.amazonaws.com/2006-03-01">',
           "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><IsTruncated>false</IsTruncated>"
           % (escape(bucket), escape(q.get("prefix", "")), len(objs) + len(prefixes))]
    for o in objs:
        out.append('<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>"%s"</ETag><Size>%s</Size></Contents>'
                   % (escape(o["name"]), o.get("updated"), o.get("etag") or o.get("md5Hash"), o.get("size", 0)))
    for p in prefixes:
        out.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(p))
    out.append("</ListBucketResult>")
    response["Content-type"] = "application/xml"
    response._content = "".join(out)

for _regex, handlers in server.HANDLERS:
    for method, h in list(handlers.items()):
        if h is _orig_download:
            handlers[method] = download
            handlers["HEAD"] = download
        elif h is _orig_xml_upload:
            handlers[method] = xml_upload
server.HANDLERS = ((r"^/(?P<bucket_name>[-.\w]+)/?$", {"GET": xml_list}),) + tuple(server.HANDLERS)

class _HeadResponse(server.Response):
    def close(self):
        self._handler.send_response(self.status.value, self.status.phrase)
        for k, v in self._headers.items():
            self._handler.send_header(k, v)
        c = self._content.encode() if isinstance(self._content, str) else self._content
        self._handler.send_header("Content-Length", str(len(c)))
        self._handler.end_headers()

def do_HEAD(self):
    orig = server.Response
    server.Response = _HeadResponse
    try:
        server.Router(self).handle("HEAD")
    finally:
        server.Response = orig
server.RequestHandler.do_HEAD = do_HEAD

def _path(self):  # object_store sends my%2Dbucket for my-bucket
    parts = self._parsed_url.path.split("/", 2)
    if len(parts) >= 2 and "%" in parts[1]:
        parts[1] = _unquote(parts[1])
    return "/".join(parts)
server.Request.path = property(_path)

if __name__ == "__main__":
    main(sys.argv[1:])
