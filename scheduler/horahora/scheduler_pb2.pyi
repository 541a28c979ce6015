from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class URLRequest(_message.Message):
    __slots__ = ("url", "userID")
    URL_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    url: str
    userID: int
    def __init__(self, url: _Optional[str] = ..., userID: _Optional[int] = ...) -> None: ...

class listArchivalEntriesRequest(_message.Message):
    __slots__ = ("UserID",)
    USERID_FIELD_NUMBER: _ClassVar[int]
    UserID: int
    def __init__(self, UserID: _Optional[int] = ...) -> None: ...

class listArchivalEntriesResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[contentArchivalEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[contentArchivalEntry, _Mapping]]] = ...) -> None: ...

class contentArchivalEntry(_message.Message):
    __slots__ = ("UserID", "Url", "ArchivedVideos", "CurrentTotalVideos", "LastSynced", "BackoffFactor", "downloadID", "UndownloadableVideos")
    USERID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ARCHIVEDVIDEOS_FIELD_NUMBER: _ClassVar[int]
    CURRENTTOTALVIDEOS_FIELD_NUMBER: _ClassVar[int]
    LASTSYNCED_FIELD_NUMBER: _ClassVar[int]
    BACKOFFFACTOR_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADID_FIELD_NUMBER: _ClassVar[int]
    UNDOWNLOADABLEVIDEOS_FIELD_NUMBER: _ClassVar[int]
    UserID: int
    Url: str
    ArchivedVideos: int
    CurrentTotalVideos: int
    LastSynced: str
    BackoffFactor: int
    downloadID: int
    UndownloadableVideos: int
    def __init__(self, UserID: _Optional[int] = ..., Url: _Optional[str] = ..., ArchivedVideos: _Optional[int] = ..., CurrentTotalVideos: _Optional[int] = ..., LastSynced: _Optional[str] = ..., BackoffFactor: _Optional[int] = ..., downloadID: _Optional[int] = ..., UndownloadableVideos: _Optional[int] = ...) -> None: ...

class listArchivalEventsRequest(_message.Message):
    __slots__ = ("DownloadID", "ShowAll")
    DOWNLOADID_FIELD_NUMBER: _ClassVar[int]
    SHOWALL_FIELD_NUMBER: _ClassVar[int]
    DownloadID: int
    ShowAll: bool
    def __init__(self, DownloadID: _Optional[int] = ..., ShowAll: _Optional[bool] = ...) -> None: ...

class listArchivalEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[archivalEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[archivalEvent, _Mapping]]] = ...) -> None: ...

class archivalEvent(_message.Message):
    __slots__ = ("video_url", "parent_url", "message", "timestamp")
    VIDEO_URL_FIELD_NUMBER: _ClassVar[int]
    PARENT_URL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    video_url: str
    parent_url: str
    message: str
    timestamp: str
    def __init__(self, video_url: _Optional[str] = ..., parent_url: _Optional[str] = ..., message: _Optional[str] = ..., timestamp: _Optional[str] = ...) -> None: ...

class deletionRequest(_message.Message):
    __slots__ = ("downloadID", "userID")
    DOWNLOADID_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    downloadID: int
    userID: int
    def __init__(self, downloadID: _Optional[int] = ..., userID: _Optional[int] = ...) -> None: ...

class retryRequest(_message.Message):
    __slots__ = ("downloadID", "userID")
    DOWNLOADID_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    downloadID: int
    userID: int
    def __init__(self, downloadID: _Optional[int] = ..., userID: _Optional[int] = ...) -> None: ...

class downloadsInProgressRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class downloadsInProgressResponse(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[Video]
    def __init__(self, videos: _Optional[_Iterable[_Union[Video, _Mapping]]] = ...) -> None: ...

class Video(_message.Message):
    __slots__ = ("VideoID", "website", "dlStatus")
    class downloadStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        Queued: _ClassVar[Video.downloadStatus]
        Downloading: _ClassVar[Video.downloadStatus]
    Queued: Video.downloadStatus
    Downloading: Video.downloadStatus
    VIDEOID_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    DLSTATUS_FIELD_NUMBER: _ClassVar[int]
    VideoID: str
    website: str
    dlStatus: Video.downloadStatus
    def __init__(self, VideoID: _Optional[str] = ..., website: _Optional[str] = ..., dlStatus: _Optional[_Union[Video.downloadStatus, str]] = ...) -> None: ...

class UnapprovedList(_message.Message):
    __slots__ = ("UnapprovedVideos",)
    UNAPPROVEDVIDEOS_FIELD_NUMBER: _ClassVar[int]
    UnapprovedVideos: _containers.RepeatedCompositeFieldContainer[UnapprovedVideo]
    def __init__(self, UnapprovedVideos: _Optional[_Iterable[_Union[UnapprovedVideo, _Mapping]]] = ...) -> None: ...

class UnapprovedVideo(_message.Message):
    __slots__ = ("VideoID", "url", "category")
    VIDEOID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    VideoID: str
    url: str
    category: str
    def __init__(self, VideoID: _Optional[str] = ..., url: _Optional[str] = ..., category: _Optional[str] = ...) -> None: ...

class ApproveVideoReq(_message.Message):
    __slots__ = ("VideoID",)
    VIDEOID_FIELD_NUMBER: _ClassVar[int]
    VideoID: str
    def __init__(self, VideoID: _Optional[str] = ...) -> None: ...

class InferenceList(_message.Message):
    __slots__ = ("Entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    Entries: _containers.RepeatedCompositeFieldContainer[InferenceEntry]
    def __init__(self, Entries: _Optional[_Iterable[_Union[InferenceEntry, _Mapping]]] = ...) -> None: ...

class InferenceEntry(_message.Message):
    __slots__ = ("Tag", "Category")
    TAG_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    Tag: str
    Category: str
    def __init__(self, Tag: _Optional[str] = ..., Category: _Optional[str] = ...) -> None: ...
