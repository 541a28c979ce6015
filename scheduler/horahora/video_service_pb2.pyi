from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ForeignVideoCheck(_message.Message):
    __slots__ = ("ForeignVideoID", "ForeignWebsite")
    FOREIGNVIDEOID_FIELD_NUMBER: _ClassVar[int]
    FOREIGNWEBSITE_FIELD_NUMBER: _ClassVar[int]
    ForeignVideoID: str
    ForeignWebsite: str
    def __init__(self, ForeignVideoID: _Optional[str] = ..., ForeignWebsite: _Optional[str] = ...) -> None: ...

class VideoExistenceResponse(_message.Message):
    __slots__ = ("Exists",)
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    Exists: bool
    def __init__(self, Exists: _Optional[bool] = ...) -> None: ...

class InputVideoChunk(_message.Message):
    __slots__ = ("content", "meta", "rawmeta")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    RAWMETA_FIELD_NUMBER: _ClassVar[int]
    content: FileContent
    meta: InputFileMetadata
    rawmeta: RawMetadata
    def __init__(self, content: _Optional[_Union[FileContent, _Mapping]] = ..., meta: _Optional[_Union[InputFileMetadata, _Mapping]] = ..., rawmeta: _Optional[_Union[RawMetadata, _Mapping]] = ...) -> None: ...

class FileContent(_message.Message):
    __slots__ = ("Data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    Data: bytes
    def __init__(self, Data: _Optional[bytes] = ...) -> None: ...

class RawMetadata(_message.Message):
    __slots__ = ("Data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    Data: bytes
    def __init__(self, Data: _Optional[bytes] = ...) -> None: ...

class InputFileMetadata(_message.Message):
    __slots__ = ("title", "description", "authorUID", "originalVideoLink", "authorUsername", "originalSite", "originalID", "domesticAuthorID", "Tags", "thumbnail")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    AUTHORUID_FIELD_NUMBER: _ClassVar[int]
    ORIGINALVIDEOLINK_FIELD_NUMBER: _ClassVar[int]
    AUTHORUSERNAME_FIELD_NUMBER: _ClassVar[int]
    ORIGINALSITE_FIELD_NUMBER: _ClassVar[int]
    ORIGINALID_FIELD_NUMBER: _ClassVar[int]
    DOMESTICAUTHORID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
    title: str
    description: str
    authorUID: str
    originalVideoLink: str
    authorUsername: str
    originalSite: str
    originalID: str
    domesticAuthorID: int
    Tags: _containers.RepeatedScalarFieldContainer[str]
    thumbnail: bytes
    def __init__(self, title: _Optional[str] = ..., description: _Optional[str] = ..., authorUID: _Optional[str] = ..., originalVideoLink: _Optional[str] = ..., authorUsername: _Optional[str] = ..., originalSite: _Optional[str] = ..., originalID: _Optional[str] = ..., domesticAuthorID: _Optional[int] = ..., Tags: _Optional[_Iterable[str]] = ..., thumbnail: _Optional[bytes] = ...) -> None: ...

class uploadResponse(_message.Message):
    __slots__ = ("videoID",)
    VIDEOID_FIELD_NUMBER: _ClassVar[int]
    videoID: int
    def __init__(self, videoID: _Optional[int] = ...) -> None: ...
