from django import template

register = template.Library()


@register.filter
def megabytes(size: int) -> str:
    """Format a byte count as "1.2 MB", or in KB or bytes when smaller."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.0f} KB"
    return f"{size} bytes"
