"""codeprm.select"""
